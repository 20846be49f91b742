package tfserving

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
)

// number reads a numeric token; NaN and the infinities come as the strings newNaNReader makes.
func number(tok json.Token) (float32, bool) {
	switch t := tok.(type) {
	case float64:
		return float32(t), true
	case string:
		switch t {
		case "NaN":
			return float32(math.NaN()), true
		case "Infinity":
			return float32(math.Inf(1)), true
		case "-Infinity":
			return float32(math.Inf(-1)), true
		}
	}
	return 0, false
}

// nanReader passes JSON through, quoting the bare words NaN, Infinity and -Infinity
// outside strings (TensorFlow Serving's parser takes them as numbers, encoding/json does
// not), so that they reach the parser as the strings number reads.
type nanReader struct {
	r     io.ByteReader
	out   []byte
	inStr bool // inside a JSON string
	esc   bool // after a backslash inside a string
	bare  bool // inside a quoted bare word
	minus bool // a '-' held back to see whether -Infinity follows
}

func newNaNReader(r io.Reader) *nanReader {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 32<<10)
	}
	return &nanReader{r: br}
}

func (n *nanReader) Read(b []byte) (int, error) {
	for len(n.out) < len(b) {
		c, err := n.r.ReadByte()
		if err != nil {
			n.flush()
			if len(n.out) == 0 {
				return 0, err
			}
			break
		}
		n.step(c)
	}
	k := copy(b, n.out)
	n.out = n.out[k:]
	return k, nil
}

// flush ends a pending bare word or minus at the end of the input.
func (n *nanReader) flush() {
	if n.minus {
		n.out, n.minus = append(n.out, '-'), false
	}
	if n.bare {
		n.out, n.bare = append(n.out, '"'), false
	}
}

func (n *nanReader) step(c byte) {
	switch {
	case n.inStr:
		n.esc, n.inStr = !n.esc && c == '\\', n.esc || c != '"'
	case n.bare:
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			n.out = append(n.out, c)
			return
		}
		n.out, n.bare = append(n.out, '"'), false
		n.step(c)
		return
	case n.minus:
		n.minus = false
		if c == 'I' {
			n.out, n.bare = append(n.out, '"', '-', 'I'), true
			return
		}
		n.out = append(n.out, '-')
		n.step(c)
		return
	case c == '-':
		n.minus = true
		return
	case c == 'N' || c == 'I':
		n.out, n.bare = append(n.out, '"', c), true
		return
	case c == '"':
		n.inStr = true
	}
	n.out = append(n.out, c)
}
