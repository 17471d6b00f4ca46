package face

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func descriptor(v float32) [128]float32 {
	var d [128]float32
	for i := range d {
		d[i] = v
	}
	return d
}

func TestGallery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faces.db")
	g, err := OpenGallery(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Enroll(Person{ID: "alice", Name: "Alice", Descriptors: [][128]float32{descriptor(0)}, Photo: []byte("jpeg")}, EnrollNew); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Enroll(Person{ID: "bob", Descriptors: [][128]float32{descriptor(0.1)}}, ""); err != nil {
		t.Fatal(err)
	}
	// Enrolling an existing id without saying append or replace is refused.
	if _, existed, err := g.Enroll(Person{ID: "alice", Name: "Mallory", Descriptors: [][128]float32{descriptor(3)}}, EnrollNew); !errors.Is(err, ErrPersonExists) || !existed {
		t.Fatalf("enroll over alice in mode new: existed=%v err=%v, want ErrPersonExists", existed, err)
	}
	// An append adds a descriptor and keeps the name.
	p, existed, err := g.Enroll(Person{ID: "alice", Descriptors: [][128]float32{descriptor(0.5)}}, EnrollAppend)
	if err != nil || !existed || len(p.Descriptors) != 2 || p.Name != "Alice" {
		t.Fatalf("re-enroll: %+v existed=%v %v", p, existed, err)
	}
	if _, _, err := g.Enroll(Person{ID: "nobody"}, EnrollNew); err == nil {
		t.Error("enrolled a person without a descriptor")
	}
	if _, _, err := g.Enroll(Person{ID: "", Descriptors: [][128]float32{descriptor(0)}}, EnrollNew); !errors.Is(err, ErrBadPersonID) {
		t.Errorf("empty id: %v", err)
	}
	probe := descriptor(0.45) // 0.05*sqrt(128) = 0.566 from alice's second, 0.35*sqrt(128) = 3.96 from bob
	m, same, err := g.Verify("alice", probe, DefaultThreshold)
	if err != nil || !same || m.Distance > 0.57 || m.Distance < 0.56 {
		t.Errorf("verify alice: %+v same=%v err=%v", m, same, err)
	}
	if _, same, _ := g.Verify("bob", probe, DefaultThreshold); same {
		t.Error("bob verified as the probe")
	}
	if _, _, err := g.Verify("carol", probe, DefaultThreshold); !errors.Is(err, ErrUnknownPerson) {
		t.Errorf("unknown person: %v", err)
	}
	top, err := g.Identify(probe, 1)
	if err != nil || len(top) != 1 || top[0].ID != "alice" {
		t.Errorf("identify: %+v %v", top, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	// It persists.
	g, err = OpenGallery(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	list, err := g.List()
	if err != nil || len(list) != 2 || list[0].ID != "alice" || list[0].Photo != nil {
		t.Fatalf("list after reopen: %+v %v", list, err)
	}
	if err := g.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete("bob"); !errors.Is(err, ErrUnknownPerson) {
		t.Errorf("second delete: %v", err)
	}
}

func TestGalleryEnrollModesAndLimits(t *testing.T) {
	g, err := OpenGallery(filepath.Join(t.TempDir(), "faces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	one := func(v float32) [][128]float32 { return [][128]float32{descriptor(v)} }
	if _, _, err := g.Enroll(Person{ID: "p", Name: "Pat", Descriptors: one(0)}, EnrollNew); err != nil {
		t.Fatal(err)
	}
	// Appending many times keeps only the newest MaxDescriptors.
	var p Person
	for i := range 3 * MaxDescriptors {
		if p, _, err = g.Enroll(Person{ID: "p", Descriptors: one(float32(i + 1))}, EnrollAppend); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.Descriptors) != MaxDescriptors || p.Descriptors[MaxDescriptors-1][0] != float32(3*MaxDescriptors) {
		t.Fatalf("after %d appends: %d descriptors, last %v; want %d, the newest last",
			3*MaxDescriptors, len(p.Descriptors), p.Descriptors[len(p.Descriptors)-1][0], MaxDescriptors)
	}
	stored, err := g.Get("p")
	if err != nil || len(stored.Descriptors) != MaxDescriptors {
		t.Fatalf("stored: %d descriptors, %v", len(stored.Descriptors), err)
	}
	// Replace starts the entry again.
	p, existed, err := g.Enroll(Person{ID: "p", Name: "Pat B", Descriptors: one(-1)}, EnrollReplace)
	if err != nil || !existed || len(p.Descriptors) != 1 || p.Name != "Pat B" {
		t.Fatalf("replace: %+v existed=%v %v", p, existed, err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{strings.Repeat("é", MaxNameLen), true},
		{strings.Repeat("a", MaxNameLen+1), false},
		{strings.Repeat("a", 900_000), false},
		{"line\nbreak", false},
		{"bad \xff utf8", false},
	}
	for _, tc := range tests {
		_, _, err := g.Enroll(Person{ID: "n", Name: tc.name, Descriptors: one(0)}, EnrollReplace)
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrBadName)) {
			t.Errorf("name of %d bytes: err = %v, want ok=%v", len(tc.name), err, tc.ok)
		}
	}
	if _, err := ParseEnrollMode("merge"); err == nil {
		t.Error("ParseEnrollMode accepted merge")
	}
	if m, err := ParseEnrollMode(""); err != nil || m != EnrollNew {
		t.Errorf("the default mode is %q (%v), want new", m, err)
	}
}
