// Package labels is the project's one class vocabulary: the class names in id order (the
// order of a model's outputs, of the manifest's labels and of every report) and the
// parsing of a label written as a name or an id.
//
//	classes := labels.Default()            // normal, pneumonia
//	id, err := classes.Parse("PNEUMONIA") // labels.Pneumonia
//	name := classes.Name(labels.Normal)    // "normal"
package labels

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Class ids of the default vocabulary, in the paper's order (Normal is 0 in every
// vocabulary xray makes).
const (
	Normal    = 0
	Pneumonia = 1
)

// Class ids of the Subtypes vocabulary.
const (
	Bacterial = 1
	Viral     = 2
)

// ErrUnknown is wrapped by Parse when a label names no class.
var ErrUnknown = errors.New("unknown label")

// Set is an ordered class vocabulary: Name(id) for id in 0..Len()-1. The zero Set is
// empty; a Set is immutable and safe to share.
type Set struct{ names []string }

// Default is the paper's two classes: 0 normal, 1 pneumonia.
func Default() Set { return Set{names: []string{"normal", "pneumonia"}} }

// Subtypes is the Kermany collection's three classes: 0 normal, 1 bacterial, 2 viral
// (pneumonia split by the cause its file names record).
func Subtypes() Set { return Set{names: []string{"normal", "bacterial", "viral"}} }

// ParseSet reads a vocabulary written as comma-separated class names in id order
// ("normal,bacterial,viral"), in any letter case; empty text is Default.
func ParseSet(text string) (Set, error) {
	if strings.TrimSpace(text) == "" {
		return Default(), nil
	}
	parts := strings.Split(strings.ToLower(text), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return New(parts...)
}

// Of returns the first of the candidate vocabularies that holds every name; the second
// result is false when none does.
func Of(names []string, candidates ...Set) (Set, bool) {
	for _, c := range candidates {
		all := true
		for _, n := range names {
			if _, ok := c.Index(n); !ok {
				all = false
				break
			}
		}
		if all {
			return c, true
		}
	}
	return Set{}, false
}

// New makes a vocabulary from class names in id order. Names are lower case, non-empty,
// free of commas and whitespace, and unique.
func New(names ...string) (Set, error) {
	if len(names) < 2 {
		return Set{}, fmt.Errorf("labels: %d class names %q: need at least 2", len(names), names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, ", \t\r\n") {
			return Set{}, fmt.Errorf("labels: class name %q: use a lower-case word without commas or spaces", n)
		}
		if seen[n] {
			return Set{}, fmt.Errorf("labels: class name %q appears twice", n)
		}
		seen[n] = true
	}
	return Set{names: append([]string(nil), names...)}, nil
}

// Len is the number of classes.
func (s Set) Len() int { return len(s.names) }

// Name returns the name of class id; it panics if id is out of range, like an index.
func (s Set) Name(id int) string { return s.names[id] }

// Names returns a copy of the class names in id order.
func (s Set) Names() []string { return append([]string(nil), s.names...) }

// Index returns the id of a class name (exact, lower case) and whether it exists.
func (s Set) Index(name string) (int, bool) {
	for i, n := range s.names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// Equal reports whether two vocabularies have the same names in the same order.
func (s Set) Equal(o Set) bool {
	if len(s.names) != len(o.names) {
		return false
	}
	for i := range s.names {
		if s.names[i] != o.names[i] {
			return false
		}
	}
	return true
}

// Parse reads a label written as a class name in any letter case ("Pneumonia") or as an
// id ("1"), ignoring surrounding space. An unknown label wraps ErrUnknown.
func (s Set) Parse(label string) (int, error) {
	v := strings.ToLower(strings.TrimSpace(label))
	if id, ok := s.Index(v); ok {
		return id, nil
	}
	if id, err := strconv.Atoi(v); err == nil && id >= 0 && id < len(s.names) {
		return id, nil
	}
	return 0, fmt.Errorf("%w %q: use one of %s or an id 0..%d", ErrUnknown, label, strings.Join(s.names, ", "), len(s.names)-1)
}

// IsDefault reports whether s is the paper's normal, pneumonia.
func (s Set) IsDefault() bool { return s.Equal(Default()) }

// String lists the names, comma-separated.
func (s Set) String() string { return strings.Join(s.names, ",") }
