package dicom

// StoredValues is frame 0 before windowing, for the tests (package dicom_test) that
// compare it with pydicom's pixel_array: a monochrome image's stored values, a colour
// image's gray levels (colourGray).
func StoredValues(b []byte) ([]float64, Info, error) {
	s, info, err := decodeDICOMSamples(b)
	if err != nil {
		return nil, info, err
	}
	var out []float64
	if s.rgb != nil {
		for _, v := range s.rgb {
			out = append(out, float64(v))
		}
		return out, info, nil
	}
	for i := range s.mono.len() {
		out = append(out, float64(s.mono.value(i)))
	}
	return out, info, nil
}
