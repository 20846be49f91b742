package dicomweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// dicomJSON is one object of a DICOM JSON Model answer (PS3.18 F.2): attributes by tag
// ("0020000D"), each with its VR and values.
type dicomJSON map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// str is the first value of tag as a string ("" when absent); numbers are formatted.
func (d dicomJSON) str(tag string) string {
	a, ok := d[tag]
	if !ok || len(a.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(a.Value[0], &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(a.Value[0], &n) == nil {
		return n.String()
	}
	return ""
}

// Study is a QIDO-RS study match: its UID and how many instances it holds (which changes
// when instances are added, so --watch can pass over studies it has done).
type Study struct {
	UID       string
	Date      string // StudyDate, YYYYMMDD
	Instances int    // NumberOfStudyRelatedInstances
}

// Instance is a QIDO-RS instance match.
type Instance struct {
	Study, Series, SOP string // Study, Series and SOP Instance UIDs
	SOPClass, Modality string
	BodyPart           string // BodyPartExamined (upper case)
}

// StudyQuery filters Studies. Zero fields do not filter.
type StudyQuery struct {
	Modality     string    // ModalitiesInStudy, one modality
	Since, Until time.Time // StudyDate range, inclusive (dates only)
	StudyUID     string
}

// pageSize is the limit of each QIDO page; the next page starts at its offset.
const pageSize = 500

// Studies returns the studies matching q (QIDO-RS /studies, paged).
func (c *Client) Studies(ctx context.Context, q StudyQuery) ([]Study, error) {
	v := url.Values{"includefield": {"NumberOfStudyRelatedInstances"}}
	if q.Modality != "" {
		v.Set("ModalitiesInStudy", q.Modality)
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		v.Set("StudyDate", dateRange(q.Since, q.Until))
	}
	if q.StudyUID != "" {
		v.Set("StudyInstanceUID", q.StudyUID)
	}
	var out []Study
	err := c.query(ctx, "/studies", v, func(d dicomJSON) {
		n, _ := strconv.Atoi(d.str("00201208"))
		out = append(out, Study{UID: d.str("0020000D"), Date: d.str("00080020"), Instances: n})
	})
	return out, err
}

// Instances returns every instance of a study (QIDO-RS /studies/{uid}/instances, paged),
// with its series' modality and body part.
func (c *Client) Instances(ctx context.Context, study string) ([]Instance, error) {
	v := url.Values{"includefield": {"BodyPartExamined"}}
	var out []Instance
	err := c.query(ctx, "/studies/"+url.PathEscape(study)+"/instances", v, func(d dicomJSON) {
		out = append(out, Instance{Study: study, Series: d.str("0020000E"), SOP: d.str("00080018"),
			SOPClass: d.str("00080016"), Modality: strings.ToUpper(d.str("00080060")), BodyPart: strings.ToUpper(d.str("00180015"))})
	})
	return out, err
}

// query pages through a QIDO-RS search, handing each match to f.
func (c *Client) query(ctx context.Context, path string, v url.Values, f func(dicomJSON)) error {
	prevFirst := ""
	for offset := 0; ; offset += pageSize {
		v.Set("limit", strconv.Itoa(pageSize))
		v.Set("offset", strconv.Itoa(offset))
		body, _, err := c.do(ctx, request{method: "GET", path: path, query: v, accept: "application/dicom+json", limit: maxQueryBytes})
		if err != nil {
			return err
		}
		var page []dicomJSON
		if len(body) > 0 {
			if err := json.Unmarshal(body, &page); err != nil {
				return fmt.Errorf("QIDO %s: the answer is not DICOM JSON: %v", path, err)
			}
		}
		if len(page) == 0 {
			return nil
		}
		// A server that ignores offset would repeat its first page forever.
		first, _ := json.Marshal(page[0])
		if string(first) == prevFirst {
			return nil
		}
		prevFirst = string(first)
		for _, d := range page {
			f(d)
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// dateRange is a DICOM date range YYYYMMDD-YYYYMMDD, open on a zero side.
func dateRange(since, until time.Time) string {
	s, u := "", ""
	if !since.IsZero() {
		s = since.Format("20060102")
	}
	if !until.IsZero() {
		u = until.Format("20060102")
	}
	return s + "-" + u
}
