package labels

import (
	"errors"
	"slices"
	"testing"
)

// Normal then pneumonia is the order of every model output and manifest, and of the
// exported models' metadata already in use: it must not change.
func TestDefaultIsThePapersOrder(t *testing.T) {
	d := Default()
	if got := d.Names(); !slices.Equal(got, []string{"normal", "pneumonia"}) {
		t.Fatalf("Default().Names() = %q", got)
	}
	if d.Len() != 2 || d.Name(Normal) != "normal" || d.Name(Pneumonia) != "pneumonia" {
		t.Fatalf("Default(): Len %d, Name(Normal) %q, Name(Pneumonia) %q", d.Len(), d.Name(Normal), d.Name(Pneumonia))
	}
	d.Names()[0] = "changed" // a copy: the vocabulary cannot be changed through it
	if Default().Name(0) != "normal" || d.Name(0) != "normal" {
		t.Fatal("Names returned the Set's own slice")
	}
}

func TestParse(t *testing.T) {
	d := Default()
	for in, want := range map[string]int{
		"normal": 0, "NORMAL": 0, " Normal\t": 0, "0": 0,
		"pneumonia": 1, "PNEUMONIA": 1, "1": 1, " 1 ": 1,
	} {
		if got, err := d.Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "cat", "2", "-1", "normal,pneumonia"} {
		if _, err := d.Parse(in); !errors.Is(err, ErrUnknown) {
			t.Errorf("Parse(%q) error %v, want ErrUnknown", in, err)
		}
	}
}

func TestNew(t *testing.T) {
	s, err := New("normal", "bacterial", "viral")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Name(2) != "viral" || s.String() != "normal,bacterial,viral" {
		t.Fatalf("New: Len %d, Name(2) %q, String %q", s.Len(), s.Name(2), s.String())
	}
	if id, ok := s.Index("bacterial"); !ok || id != 1 {
		t.Errorf("Index(bacterial) = %d, %v; want 1, true", id, ok)
	}
	if id, err := s.Parse("2"); err != nil || id != 2 {
		t.Errorf("Parse(2) = %d, %v; want 2", id, err)
	}
	if s.Equal(Default()) || !Default().Equal(Default()) {
		t.Error("Equal is wrong")
	}
	for _, bad := range [][]string{nil, {"normal"}, {"normal", "normal"}, {"normal", "Viral"}, {"normal", "a b"}, {"normal", ""}, {"a,b", "c"}} {
		if _, err := New(bad...); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestSubtypesAndParseSet(t *testing.T) {
	if got := Subtypes().Names(); !slices.Equal(got, []string{"normal", "bacterial", "viral"}) || Subtypes().Name(Bacterial) != "bacterial" || Subtypes().Name(Viral) != "viral" {
		t.Fatalf("Subtypes() = %q", got)
	}
	for in, want := range map[string]Set{"": Default(), "normal,pneumonia": Default(), " Normal, Bacterial ,VIRAL": Subtypes()} {
		if got, err := ParseSet(in); err != nil || !got.Equal(want) {
			t.Errorf("ParseSet(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSet("normal"); err == nil {
		t.Error("ParseSet(normal) accepted one class")
	}
	if s, ok := Of([]string{"viral", "normal"}, Default(), Subtypes()); !ok || !s.Equal(Subtypes()) {
		t.Errorf("Of(viral, normal) = %q, %v", s, ok)
	}
	if _, ok := Of([]string{"pneumonia", "viral"}, Default(), Subtypes()); ok {
		t.Error("Of(pneumonia, viral) found a vocabulary")
	}
}
