package tfserving

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/xraylab/xray/savedmodels"
	"github.com/xraylab/xray/serve/protocol"
)

// readError is a failure to read the body (too big, too slow), not a malformed one: the
// handler maps it with Backend.BodyError.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// decodePredict parses a TensorFlow Serving REST predict body for our two signatures:
//
//	{"signature_name": "serving_bytes", "instances": [{"b64": "..."}, ...]}
//	{"signature_name": "serving_bytes", "instances": [{"image_bytes": {"b64": "..."}}, ...]}
//	{"signature_name": "serving_bytes", "inputs": {"image_bytes": [{"b64": "..."}]}}  (or "inputs": [...])
//	{"instances": [S x S x 3 numbers, ...]}   serving_default, also [{"image": ...}] and "inputs"
//
// size is the model's input side; maxInstances bounds the images. The body is read token
// by token: the instance count and each image's values are checked as they arrive, so a
// body that breaks a limit costs no more memory than the values before the break (never
// the whole list). NaN, Infinity and -Infinity are numbers, as in TensorFlow Serving.
func decodePredict(r io.Reader, size, maxInstances int) (*protocol.Input, error) {
	p := &predictParser{dec: json.NewDecoder(newNaNReader(r)), size: size, max: maxInstances}
	in, err := p.parse()
	if err == nil {
		return in, nil
	}
	var e *protocol.Error
	var re *readError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &e), errors.As(err, &re):
		return nil, err
	case errors.As(err, &se):
		return nil, protocol.BadRequest("request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return nil, protocol.BadRequest("request body ends before its JSON does")
	}
	return nil, &readError{err}
}

// predictParser reads one predict body. Rows are kept in the order they come; whether
// they suit the signature is checked at the end, as signature_name may follow them.
type predictParser struct {
	dec       *json.Decoder
	size, max int
	signature string
	columnar  bool
	seenRows  bool
	named     string // the input name rows or columns used ("" when none)
	rows      []row
}

// row is one instance: file bytes, or pixels.
type row struct {
	file   []byte
	pixels []float32
}

func (p *predictParser) parse() (*protocol.Input, error) {
	if err := p.expect('{', "request body is not a JSON object: send {\"instances\": [...]}"); err != nil {
		return nil, err
	}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		switch key {
		case "signature_name":
			if p.signature, err = p.str("'signature_name'"); err != nil {
				return nil, err
			}
		case "instances", "inputs":
			if p.seenRows {
				return nil, protocol.BadRequest("request has both 'instances' and 'inputs': give one")
			}
			p.seenRows, p.columnar = true, key == "inputs"
			if err := p.list(); err != nil {
				return nil, err
			}
		default: // TensorFlow Serving ignores other keys; so do we, without keeping them
			if err := p.skip(); err != nil {
				return nil, err
			}
		}
	}
	if _, err := p.dec.Token(); err != nil { // the closing }
		return nil, err
	}
	return p.finish()
}

// finish checks the rows against the signature.
func (p *predictParser) finish() (*protocol.Input, error) {
	in := &protocol.Input{Signature: p.signature, Columnar: p.columnar}
	if in.Signature == "" {
		in.Signature = savedmodels.SignatureDefault
	}
	var inputName string
	switch in.Signature {
	case savedmodels.SignatureDefault:
		inputName = savedmodels.InputImage
	case savedmodels.SignatureBytes:
		inputName = savedmodels.InputImageBytes
	default:
		return nil, protocol.BadRequest("serving signature name: %q not found in signature def; the model has %s and %s",
			in.Signature, savedmodels.SignatureDefault, savedmodels.SignatureBytes)
	}
	switch {
	case !p.seenRows:
		return nil, protocol.BadRequest("missing 'instances' or 'inputs' key")
	case len(p.rows) == 0:
		return nil, protocol.BadRequest("no instances: send at least one image")
	case p.named != "" && p.named != inputName:
		return nil, protocol.BadRequest("input %q is not %s's; its input is %q", p.named, in.Signature, inputName)
	}
	for i, r := range p.rows {
		switch {
		case in.Signature == savedmodels.SignatureBytes && r.file == nil:
			return nil, protocol.BadRequest("instance %d: %s takes {\"b64\": \"<base64 of a JPEG, PNG or DICOM file>\"}, not numbers", i, in.Signature)
		case in.Signature == savedmodels.SignatureDefault && r.pixels == nil:
			return nil, protocol.BadRequest("instance %d: %s takes %d x %d x 3 numbers per image (preprocessed pixels); for JPEG or PNG files use signature_name %q with {\"b64\": ...}",
				i, in.Signature, p.size, p.size, savedmodels.SignatureBytes)
		case r.file != nil:
			in.Files = append(in.Files, r.file)
		default:
			in.Pixels = append(in.Pixels, r.pixels)
		}
	}
	return in, nil
}

// list reads the images: a list of rows, or for "inputs" also {"<input name>": [...]}.
func (p *predictParser) list() error {
	tok, err := p.dec.Token()
	if err != nil {
		return err
	}
	if tok == json.Delim('{') && p.columnar {
		key, err := p.dec.Token()
		if err != nil {
			return err
		}
		name, _ := key.(string)
		if name == "" {
			return protocol.BadRequest("'inputs' must have exactly one key, the input's name (%q or %q)", savedmodels.InputImageBytes, savedmodels.InputImage)
		}
		p.named = name
		if err := p.list(); err != nil {
			return err
		}
		if p.dec.More() {
			return protocol.BadRequest("'inputs' must have exactly one key, the input's name (%q or %q)", savedmodels.InputImageBytes, savedmodels.InputImage)
		}
		_, err = p.dec.Token()
		return err
	}
	if tok != json.Delim('[') {
		return protocol.BadRequest("the images must be a JSON list")
	}
	for p.dec.More() {
		if len(p.rows) == p.max {
			return protocol.BadRequest("more than %d instances, over the server's limit of %d per request: split the request", p.max, p.max)
		}
		r, err := p.row(len(p.rows), true)
		if err != nil {
			return err
		}
		p.rows = append(p.rows, r)
	}
	_, err = p.dec.Token()
	return err
}

// row reads one instance: "bytes", {"b64": ...}, pixels, or {"<input name>": one of those}.
func (p *predictParser) row(i int, mayName bool) (row, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return row{}, err
	}
	switch t := tok.(type) {
	case string:
		return row{file: []byte(t)}, nil
	case json.Delim:
		switch t {
		case '[':
			px, err := p.pixels(i)
			return row{pixels: px}, err
		case '{':
			return p.object(i, mayName)
		}
	}
	return row{}, protocol.BadRequest("instance %d: want {\"b64\": ...} or %d x %d x 3 numbers, not %v", i, p.size, p.size, tok)
}

// object reads {"b64": "..."} or {"<input name>": value}, its opening { already read.
func (p *predictParser) object(i int, mayName bool) (row, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return row{}, err
	}
	key, _ := tok.(string)
	var r row
	switch {
	case key == "b64":
		s, err := p.str(fmt.Sprintf("instance %d: 'b64'", i))
		if err != nil {
			return r, err
		}
		if r.file, err = base64.StdEncoding.DecodeString(s); err != nil {
			return r, protocol.BadRequest("instance %d: 'b64' is not valid base64: %v", i, err)
		}
		if r.file == nil {
			r.file = []byte{}
		}
	case key != "" && mayName:
		if p.named != "" && p.named != key {
			return r, protocol.BadRequest("instance %d: input %q, but an earlier one is %q", i, key, p.named)
		}
		p.named = key
		if r, err = p.row(i, false); err != nil {
			return r, err
		}
	default:
		return r, protocol.BadRequest("instance %d: an object instance must be {\"b64\": ...} or have exactly one key, the input's name", i)
	}
	if p.dec.More() {
		return r, protocol.BadRequest("instance %d: an object instance must be {\"b64\": ...} or have exactly one key, the input's name", i)
	}
	_, err = p.dec.Token()
	return r, err
}

// pixels reads size x size x 3 numbers, its first [ already read, refusing the first
// value beyond the shape.
func (p *predictParser) pixels(i int) ([]float32, error) {
	n := p.size
	out := make([]float32, 0, n*n*3)
	bad := func(format string, a ...any) error {
		return protocol.BadRequest("instance %d: "+format+"; serving_default takes %d x %d x 3 numbers per image", append(append([]any{i}, a...), n, n)...)
	}
	for y := 0; ; y++ {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		if tok == json.Delim(']') {
			if y != n {
				return nil, bad("%d rows", y)
			}
			return out, nil
		}
		if y == n {
			return nil, bad("more than %d rows", n)
		}
		if tok != json.Delim('[') {
			return nil, bad("row %d is not a list", y)
		}
		for x := 0; ; x++ {
			tok, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			if tok == json.Delim(']') {
				if x != n {
					return nil, bad("row %d has %d pixels", y, x)
				}
				break
			}
			if x == n {
				return nil, bad("row %d has more than %d pixels", y, n)
			}
			if tok != json.Delim('[') {
				return nil, bad("pixel (%d, %d) is not a list of 3 numbers", y, x)
			}
			for c := 0; ; c++ {
				tok, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				if tok == json.Delim(']') {
					if c != 3 {
						return nil, bad("pixel (%d, %d) has %d channels", y, x, c)
					}
					break
				}
				if c == 3 {
					return nil, bad("pixel (%d, %d) has more than 3 channels", y, x)
				}
				v, ok := number(tok)
				if !ok {
					return nil, bad("pixel (%d, %d) holds %v, not a number", y, x, tok)
				}
				out = append(out, v)
			}
		}
	}
}

// expect reads one token that must be d.
func (p *predictParser) expect(d json.Delim, msg string) error {
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.EOF) {
			return protocol.BadRequest("%s", msg)
		}
		return err
	}
	if tok != d {
		return protocol.BadRequest("%s", msg)
	}
	return nil
}

// str reads a string value.
func (p *predictParser) str(what string) (string, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", protocol.BadRequest("%s must be a string", what)
	}
	return s, nil
}

// skip reads one value of any shape and drops it, token by token.
func (p *predictParser) skip() error {
	depth := 0
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
