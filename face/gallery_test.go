package face

import (
	"errors"
	"path/filepath"
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
	if _, err := g.Enroll(Person{ID: "alice", Name: "Alice", Descriptors: [][128]float32{descriptor(0)}, Photo: []byte("jpeg")}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Enroll(Person{ID: "bob", Descriptors: [][128]float32{descriptor(0.1)}}); err != nil {
		t.Fatal(err)
	}
	// A second enrollment adds a descriptor and keeps the name.
	p, err := g.Enroll(Person{ID: "alice", Descriptors: [][128]float32{descriptor(0.5)}})
	if err != nil || len(p.Descriptors) != 2 || p.Name != "Alice" {
		t.Fatalf("re-enroll: %+v %v", p, err)
	}
	if _, err := g.Enroll(Person{ID: "nobody"}); err == nil {
		t.Error("enrolled a person without a descriptor")
	}
	if _, err := g.Enroll(Person{ID: "", Descriptors: [][128]float32{descriptor(0)}}); !errors.Is(err, ErrBadPersonID) {
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
