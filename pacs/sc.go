package pacs

import (
	"fmt"
	"image"
	"image/draw"
	"strconv"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// buildOverlay writes img (the Grad-CAM figure: the X-ray, the heatmap, a title with the
// class and probability, a colorbar) as a Secondary Capture image of src: RGB, derived,
// with burned-in annotation flagged (the title is text in the pixels).
func buildOverlay(src source, m ModelInfo, img image.Image, what, seriesUID, instanceUID string, now time.Time) ([]byte, error) {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > 1<<15 || b.Dy() > 1<<15 {
		return nil, fmt.Errorf("overlay for %s: bad figure size %d x %d", src.SOPInstanceUID, b.Dx(), b.Dy())
	}
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	pix := make([]byte, 0, b.Dx()*b.Dy()*3+1)
	for i := 0; i < len(rgba.Pix); i += 4 {
		pix = append(pix, rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2])
	}
	if len(pix)%2 == 1 {
		pix = append(pix, 0) // OB values have even length
	}
	var e elems
	for _, el := range src.copied {
		e.addElement(el)
	}
	e.add(tag.ImageType, []string{"DERIVED", "SECONDARY"})
	e.add(tag.SOPClassUID, SecondaryCaptureStorage)
	e.add(tag.SOPInstanceUID, instanceUID)
	e.add(tag.ContentDate, now.Format("20060102"))
	e.add(tag.ContentTime, now.Format("150405"))
	e.add(tag.Modality, "OT")
	e.add(tag.ConversionType, "WSD")
	e.add(tag.Manufacturer, manufacturer)
	e.add(tag.SeriesDescription, overlaySeriesDescription)
	e.add(tag.DerivationDescription, what)
	e.add(tag.ManufacturerModelName, m.Name)
	e.add(tag.SourceImageSequence, []elems{sopRef(src)})
	e.add(tag.SoftwareVersions, m.Version)
	e.add(tag.SeriesInstanceUID, seriesUID)
	e.add(tag.SeriesNumber, strconv.Itoa(overlaySeriesNumber))
	e.add(tag.InstanceNumber, "1")
	e.add(tag.PatientOrientation, "")
	e.add(tag.BurnedInAnnotation, "YES")
	e.add(tag.SamplesPerPixel, 3)
	e.add(tag.PhotometricInterpretation, "RGB")
	e.add(tag.PlanarConfiguration, 0)
	e.add(tag.Rows, b.Dy())
	e.add(tag.Columns, b.Dx())
	e.add(tag.BitsAllocated, 8)
	e.add(tag.BitsStored, 8)
	e.add(tag.HighBit, 7)
	e.add(tag.PixelRepresentation, 0)
	e.add(tag.LossyImageCompression, "00")
	px, err := dicom.NewElement(tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix})
	if err != nil {
		return nil, err
	}
	px.RawValueRepresentation = "OB"
	e.addElement(px)
	return e.encode(SecondaryCaptureStorage, instanceUID)
}
