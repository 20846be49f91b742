package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/xraylab/xray/savedmodels"
)

// predictInput is a decoded :predict request: encoded files for serving_bytes, or
// preprocessed pixels for serving_default.
type predictInput struct {
	signature string
	columnar  bool // "inputs" (answered with "outputs") rather than "instances"
	files     [][]byte
	pixels    [][]float32
}

func (p *predictInput) len() int { return len(p.files) + len(p.pixels) }

// decodePredict parses a TensorFlow Serving REST predict body for our two signatures:
//
//	{"signature_name": "serving_bytes", "instances": [{"b64": "..."}, ...]}
//	{"signature_name": "serving_bytes", "instances": [{"image_bytes": {"b64": "..."}}, ...]}
//	{"signature_name": "serving_bytes", "inputs": {"image_bytes": [{"b64": "..."}]}}  (or "inputs": [...])
//	{"instances": [S x S x 3 numbers, ...]}   serving_default, also [{"image": ...}] and "inputs"
//
// size is the model's input side; maxInstances bounds the images.
func decodePredict(body []byte, size, maxInstances int) (*predictInput, error) {
	var req struct {
		SignatureName string          `json:"signature_name"`
		Instances     json.RawMessage `json:"instances"`
		Inputs        json.RawMessage `json:"inputs"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, badRequest("request body is not a JSON object: %v", err)
	}
	in := &predictInput{signature: req.SignatureName}
	if in.signature == "" {
		in.signature = savedmodels.SignatureDefault
	}
	var inputName string
	switch in.signature {
	case savedmodels.SignatureDefault:
		inputName = savedmodels.InputImage
	case savedmodels.SignatureBytes:
		inputName = savedmodels.InputImageBytes
	default:
		return nil, badRequest("serving signature name: %q not found in signature def; the model has %s and %s",
			in.signature, savedmodels.SignatureDefault, savedmodels.SignatureBytes)
	}
	raw := req.Instances
	switch {
	case len(req.Instances) > 0 && len(req.Inputs) > 0:
		return nil, badRequest("request has both 'instances' and 'inputs': give one")
	case len(req.Inputs) > 0:
		in.columnar, raw = true, req.Inputs
	case len(req.Instances) == 0:
		return nil, badRequest("missing 'instances' or 'inputs' key")
	}
	rows, err := listOf(raw, inputName, in.columnar)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, badRequest("no instances: send at least one image")
	}
	if len(rows) > maxInstances {
		return nil, badRequest("%d instances, over the server's limit of %d per request: split the request", len(rows), maxInstances)
	}
	for i, row := range rows {
		if row, err = unwrapNamed(row, inputName); err != nil {
			return nil, badRequest("instance %d: %v", i, err)
		}
		if in.signature == savedmodels.SignatureBytes {
			b, err := decodeBytes(row)
			if err != nil {
				return nil, badRequest("instance %d: %v", i, err)
			}
			in.files = append(in.files, b)
			continue
		}
		p, err := decodePixels(row, size)
		if err != nil {
			return nil, badRequest("instance %d: %v", i, err)
		}
		in.pixels = append(in.pixels, p)
	}
	return in, nil
}

func badRequest(format string, a ...any) *Error { return errorf(http.StatusBadRequest, format, a...) }

// listOf splits the instances (or the columnar inputs, possibly keyed by the input's
// name) into one raw value per image.
func listOf(raw json.RawMessage, inputName string, columnar bool) ([]json.RawMessage, error) {
	if columnar && firstByte(raw) == '{' {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, badRequest("'inputs' is not valid JSON: %v", err)
		}
		v, ok := named[inputName]
		if !ok || len(named) != 1 {
			return nil, badRequest("'inputs' must have exactly the key %q", inputName)
		}
		raw = v
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, badRequest("the images must be a JSON list: %v", err)
	}
	return rows, nil
}

// unwrapNamed takes {"<input name>": v} to v (row format with named inputs); a {"b64"}
// object or a plain value is returned as it is.
func unwrapNamed(row json.RawMessage, inputName string) (json.RawMessage, error) {
	if firstByte(row) != '{' {
		return row, nil
	}
	var named map[string]json.RawMessage
	if err := json.Unmarshal(row, &named); err != nil {
		return nil, err
	}
	if _, ok := named["b64"]; ok {
		return row, nil
	}
	v, ok := named[inputName]
	if !ok || len(named) != 1 {
		return nil, fmt.Errorf("an object instance must be {\"b64\": ...} or have exactly the key %q", inputName)
	}
	return v, nil
}

// decodeBytes reads {"b64": "..."} (standard base64, as TensorFlow Serving) or a plain
// JSON string holding the bytes themselves.
func decodeBytes(v json.RawMessage) ([]byte, error) {
	if firstByte(v) == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	var o struct {
		B64 *string `json:"b64"`
	}
	if err := json.Unmarshal(v, &o); err != nil || o.B64 == nil {
		return nil, fmt.Errorf("want {\"b64\": \"<base64 of a JPEG, PNG or DICOM file>\"}")
	}
	b, err := base64.StdEncoding.DecodeString(*o.B64)
	if err != nil {
		return nil, fmt.Errorf("'b64' is not valid base64: %v", err)
	}
	return b, nil
}

// decodePixels reads one preprocessed image, size x size x 3 numbers.
func decodePixels(v json.RawMessage, size int) ([]float32, error) {
	var img [][][]float32
	if err := json.Unmarshal(v, &img); err != nil {
		return nil, fmt.Errorf("serving_default takes %d x %d x 3 numbers per image (preprocessed pixels); for JPEG or PNG files use signature_name %q with {\"b64\": ...}: %v",
			size, size, savedmodels.SignatureBytes, err)
	}
	out := make([]float32, 0, size*size*3)
	if len(img) != size {
		return nil, fmt.Errorf("%d rows, want %d x %d x 3", len(img), size, size)
	}
	for y, row := range img {
		if len(row) != size {
			return nil, fmt.Errorf("row %d has %d pixels, want %d", y, len(row), size)
		}
		for x, px := range row {
			if len(px) != 3 {
				return nil, fmt.Errorf("pixel (%d, %d) has %d channels, want 3", y, x, len(px))
			}
			out = append(out, px...)
		}
	}
	return out, nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
