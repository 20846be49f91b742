package pacs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/xraylab/xray/decision"
)

// SOP classes xray writes.
const (
	ComprehensiveSRStorage   = "1.2.840.10008.5.1.4.1.1.88.33"
	SecondaryCaptureStorage  = "1.2.840.10008.5.1.4.1.1.7"
	srSeriesNumber           = 9701 // high numbers keep our series after the acquisition's
	overlaySeriesNumber      = 9702
	resultSeriesDescription  = "xray pneumonia AI result"
	overlaySeriesDescription = "xray Grad-CAM overlay"
	manufacturer             = "xray"
)

// code is a coded concept (PS3.3 8.8): value, coding scheme designator, meaning.
type code struct{ Value, Scheme, Meaning string }

// Codes of the SR content tree (docs/pacs.md draws the tree). Class names without a
// standard code get one in the private scheme 99XRAY.
var (
	codeReport        = code{"18748-4", "LN", "Diagnostic Imaging Report"}
	codeFindings      = code{"59776-5", "LN", "Findings"}
	codeImpressions   = code{"19005-8", "LN", "Impressions"}
	codeFinding       = code{"121071", "DCM", "Finding"}
	codeImpression    = code{"121073", "DCM", "Impression"}
	codeProbability   = code{"122157", "DCM", "Probability"}
	codeThreshold     = code{"122411", "DCM", "Threshold Value"}
	codeSource        = code{"121112", "DCM", "Source of Measurement"}
	codeObserverType  = code{"121005", "DCM", "Observer Type"}
	codeDevice        = code{"121007", "DCM", "Device"}
	codeDeviceUID     = code{"121012", "DCM", "Device Observer UID"}
	codeDeviceName    = code{"121013", "DCM", "Device Observer Name"}
	codeDeviceMaker   = code{"121014", "DCM", "Device Observer Manufacturer"}
	codeDeviceModel   = code{"121015", "DCM", "Device Observer Model Name"}
	codeAlgorithmName = code{"111001", "DCM", "Algorithm Name"}
	codeAlgorithmVer  = code{"111003", "DCM", "Algorithm Version"}
	codeAlgorithmPar  = code{"111002", "DCM", "Algorithm Parameters"}
	codeNoUnits       = code{"1", "UCUM", "no units"}
	classCodes        = map[string]code{
		"pneumonia": {"233604007", "SCT", "Pneumonia"},
		"normal":    {"17621005", "SCT", "Normal"},
		"bacterial": {"53084003", "SCT", "Bacterial pneumonia"},
		"viral":     {"75570004", "SCT", "Viral pneumonia"},
	}
)

// ClassCode is the coded concept an SR uses for a model's class name: SNOMED CT for
// normal, pneumonia, bacterial and viral; otherwise the name in the private scheme 99XRAY.
func ClassCode(name string) (value, scheme, meaning string) {
	if c, ok := classCodes[strings.ToLower(name)]; ok {
		return c.Value, c.Scheme, c.Meaning
	}
	v := strings.ToUpper(name)
	if len(v) > 16 {
		v = v[:16]
	}
	return v, "99XRAY", name
}

// ModelInfo names the model in the results: Device Observer and Algorithm items of the
// SR, equipment attributes of both results.
type ModelInfo struct {
	Name    string // e.g. "xray mobilenet"
	Version string // the training run and xray version
	Digest  string // hex SHA-256 of the SavedModel's files (ModelDigest)
}

// Outcome is one image's prediction as the SR reports it.
type Outcome struct {
	Classes       []string
	Probabilities []float32 // by class
	Decision      int       // class id decided (the model's threshold, or argmax)
	// Threshold is the model's operating point on p(pneumonia) (two classes only); nil
	// or argmax: the decision is the most probable class.
	Threshold *decision.Threshold
}

// deviceUID identifies the model as an SR device observer: the same digest, the same UID.
func (m ModelInfo) deviceUID() string { return derivedUID("device", m.Digest) }

// buildSR writes the Comprehensive SR for src with the given series and instance UIDs.
func buildSR(src source, m ModelInfo, o Outcome, seriesUID, instanceUID string, now time.Time) ([]byte, error) {
	if len(o.Probabilities) != len(o.Classes) || o.Decision < 0 || o.Decision >= len(o.Classes) {
		return nil, fmt.Errorf("SR for %s: %d probabilities for %d classes, decision %d", src.SOPInstanceUID, len(o.Probabilities), len(o.Classes), o.Decision)
	}
	var e elems
	for _, el := range src.copied {
		e.addElement(el)
	}
	e.add(tag.SOPClassUID, ComprehensiveSRStorage)
	e.add(tag.SOPInstanceUID, instanceUID)
	e.add(tag.ContentDate, now.Format("20060102"))
	e.add(tag.ContentTime, now.Format("150405"))
	e.add(tag.Modality, "SR")
	e.add(tag.Manufacturer, manufacturer)
	e.add(tag.SeriesDescription, resultSeriesDescription)
	e.add(tag.ManufacturerModelName, m.Name)
	e.add(tag.ReferencedPerformedProcedureStepSequence, []elems{})
	e.add(tag.SoftwareVersions, m.Version)
	e.add(tag.SeriesInstanceUID, seriesUID)
	e.add(tag.SeriesNumber, strconv.Itoa(srSeriesNumber))
	e.add(tag.InstanceNumber, "1")
	e.add(tag.ValueType, "CONTAINER")
	e.add(tag.ConceptNameCodeSequence, codeSeq(codeReport))
	e.add(tag.ContinuityOfContent, "SEPARATE")
	e.add(tag.CompletionFlag, "COMPLETE")
	e.add(tag.VerificationFlag, "UNVERIFIED")
	e.add(tag.CurrentRequestedProcedureEvidenceSequence, []elems{item(func(st *elems) {
		st.add(tag.StudyInstanceUID, src.StudyInstanceUID)
		st.add(tag.ReferencedSeriesSequence, []elems{item(func(se *elems) {
			se.add(tag.SeriesInstanceUID, src.SeriesInstanceUID)
			se.add(tag.ReferencedSOPSequence, []elems{sopRef(src)})
		})})
	})})
	e.add(tag.PerformedProcedureCodeSequence, []elems{})
	e.add(tag.ContentSequence, srContent(src, m, o))
	return e.encode(ComprehensiveSRStorage, instanceUID)
}

// srContent is the root container's children: observer context, algorithm, findings
// (each class with its probability, inferred from the source image), the impression
// (the decided class and the threshold that decided it).
func srContent(src source, m ModelInfo, o Outcome) []elems {
	items := []elems{
		contentItem("HAS OBS CONTEXT", "CODE", codeObserverType, codeValue(codeDevice)),
		contentItem("HAS OBS CONTEXT", "UIDREF", codeDeviceUID, uidValue(m.deviceUID())),
		contentItem("HAS OBS CONTEXT", "TEXT", codeDeviceName, textValue(manufacturer)),
		contentItem("HAS OBS CONTEXT", "TEXT", codeDeviceMaker, textValue(manufacturer)),
		contentItem("HAS OBS CONTEXT", "TEXT", codeDeviceModel, textValue(m.Name)),
		contentItem("HAS CONCEPT MOD", "TEXT", codeAlgorithmName, textValue(m.Name)),
		contentItem("HAS CONCEPT MOD", "TEXT", codeAlgorithmVer, textValue(m.Version)),
		contentItem("HAS CONCEPT MOD", "TEXT", codeAlgorithmPar, textValue(parameters(m, o))),
	}
	var findings []elems
	for c, name := range o.Classes {
		v, s, mn := ClassCode(name)
		findings = append(findings, contentItem("CONTAINS", "CODE", codeFinding, codeValue(code{v, s, mn}),
			contentItem("HAS PROPERTIES", "NUM", codeProbability, numValue(float64(o.Probabilities[c]))),
			contentItem("INFERRED FROM", "IMAGE", codeSource, imageValue(src))))
	}
	items = append(items, contentItem("CONTAINS", "CONTAINER", codeFindings, containerValue, findings...))
	v, s, mn := ClassCode(o.Classes[o.Decision])
	var props []elems
	if t := o.Threshold; t != nil && !t.IsArgmax() && len(o.Classes) == 2 {
		props = append(props, contentItem("HAS PROPERTIES", "NUM", codeThreshold, numValue(t.Value)))
	}
	impression := contentItem("CONTAINS", "CODE", codeImpression, codeValue(code{v, s, mn}), props...)
	return append(items, contentItem("CONTAINS", "CONTAINER", codeImpressions, containerValue, impression))
}

// parameters is the Algorithm Parameters text: the digest and the decision rule.
func parameters(m ModelInfo, o Outcome) string {
	rule := "decision argmax"
	if t := o.Threshold; t != nil && !t.IsArgmax() && len(o.Classes) == 2 {
		rule = fmt.Sprintf("decision %s: pneumonia when p(pneumonia) >= %s", t.Rule, formatDS(t.Value))
	}
	return "savedmodel sha256:" + m.Digest + "; " + rule
}

// contentItem is one SR content item: relationship, value type, concept name, the value's
// attributes (set by value), children.
func contentItem(rel, valueType string, name code, value func(*elems), children ...elems) elems {
	return item(func(it *elems) {
		it.add(tag.RelationshipType, rel)
		it.add(tag.ValueType, valueType)
		it.add(tag.ConceptNameCodeSequence, codeSeq(name))
		value(it)
		if len(children) > 0 {
			it.add(tag.ContentSequence, children)
		}
	})
}

func codeSeq(c code) []elems {
	return []elems{item(func(it *elems) {
		it.add(tag.CodeValue, c.Value)
		it.add(tag.CodingSchemeDesignator, c.Scheme)
		it.add(tag.CodeMeaning, c.Meaning)
	})}
}

func containerValue(it *elems) { it.add(tag.ContinuityOfContent, "SEPARATE") }

func codeValue(c code) func(*elems) {
	return func(it *elems) { it.add(tag.ConceptCodeSequence, codeSeq(c)) }
}

func textValue(s string) func(*elems) { return func(it *elems) { it.add(tag.TextValue, s) } }

func uidValue(u string) func(*elems) { return func(it *elems) { it.add(tag.UID, u) } }

func numValue(v float64) func(*elems) {
	return func(it *elems) {
		it.add(tag.MeasuredValueSequence, []elems{item(func(mv *elems) {
			mv.add(tag.MeasurementUnitsCodeSequence, codeSeq(codeNoUnits))
			mv.add(tag.NumericValue, formatDS(v))
		})})
	}
}

func imageValue(src source) func(*elems) {
	return func(it *elems) { it.add(tag.ReferencedSOPSequence, []elems{sopRef(src)}) }
}

func sopRef(src source) elems {
	return item(func(r *elems) {
		r.add(tag.ReferencedSOPClassUID, src.SOPClassUID)
		r.add(tag.ReferencedSOPInstanceUID, src.SOPInstanceUID)
	})
}

// formatDS writes v as a Decimal String: at most 16 characters, 8 significant digits.
func formatDS(v float64) string {
	for prec := 8; prec > 0; prec-- {
		if s := strconv.FormatFloat(v, 'g', prec, 64); len(s) <= 16 {
			return s
		}
	}
	return "0"
}
