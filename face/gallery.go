package face

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// ErrUnknownPerson is returned for a person id the gallery does not hold.
var ErrUnknownPerson = errors.New("unknown person")

// ErrBadPersonID is returned for an empty or oversized person id.
var ErrBadPersonID = errors.New("person id must be 1 to 128 printable characters")

// ErrPersonExists is returned by Enroll in EnrollNew mode for an id that is
// already enrolled: adding to it, or replacing it, must be asked for.
var ErrPersonExists = errors.New("person already enrolled")

// ErrBadName is returned for a name longer than MaxNameLen or with control characters.
var ErrBadName = fmt.Errorf("name must be at most %d printable characters", MaxNameLen)

// Stored-input limits: a name is a person's name, not a document, and one
// person's descriptors are a handful of enrolments, not a log.
const (
	MaxNameLen     = 200
	MaxDescriptors = 16
)

// EnrollMode says what Enroll does with an id that is already enrolled.
type EnrollMode string

// The enrol modes: EnrollNew refuses an existing id (the default, so an id
// typed by mistake never changes someone else's entry), EnrollAppend adds the
// new face to it, EnrollReplace starts it again from the new face.
const (
	EnrollNew     EnrollMode = "new"
	EnrollAppend  EnrollMode = "append"
	EnrollReplace EnrollMode = "replace"
)

// ParseEnrollMode turns "", "new", "append" or "replace" into an EnrollMode.
func ParseEnrollMode(s string) (EnrollMode, error) {
	switch m := EnrollMode(s); m {
	case "":
		return EnrollNew, nil
	case EnrollNew, EnrollAppend, EnrollReplace:
		return m, nil
	}
	return "", fmt.Errorf("enroll mode %q is not new, append or replace", s)
}

var peopleBucket = []byte("people")

// Person is one enrolled identity: the insured customer whose face later
// calls are checked against.
type Person struct {
	ID          string         `json:"id"`
	Name        string         `json:"name,omitempty"`
	Descriptors [][128]float32 `json:"descriptors"`
	// Photo is the enrolled image (JPEG), kept so an agent can see whom the
	// verdict compares with.
	Photo    []byte    `json:"photo,omitempty"`
	Enrolled time.Time `json:"enrolled"`
}

// Match is a gallery person's distance to a probe descriptor.
type Match struct {
	ID       string  `json:"id"`
	Name     string  `json:"name,omitempty"`
	Distance float64 `json:"distance"`
}

// Gallery is the embedded store of enrolled people (one bbolt file).
// It is safe for concurrent use.
type Gallery struct {
	db *bolt.DB
}

// OpenGallery opens (creating if needed) the gallery file at path.
func OpenGallery(path string) (*Gallery, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open face gallery %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(peopleBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init face gallery %s: %w", path, err)
	}
	return &Gallery{db: db}, nil
}

// Close closes the gallery file.
func (g *Gallery) Close() error { return g.db.Close() }

func checkID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: %q", ErrBadPersonID, id)
	}
	return nil
}

// CheckName checks a person's name against MaxNameLen and for control
// characters; Enroll calls it, and the API calls it before any image work.
func CheckName(name string) error {
	if utf8.RuneCountInString(name) > MaxNameLen || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w (got %d characters)", ErrBadName, utf8.RuneCountInString(name))
	}
	return nil
}

// Enroll stores a person. For an id already enrolled, mode decides:
// EnrollNew refuses with ErrPersonExists, EnrollAppend adds the descriptors
// (and the newer photo and name, when set), EnrollReplace overwrites the
// entry. A person keeps at most MaxDescriptors, the newest. All or nothing:
// a failed write leaves the gallery as it was. existed says whether the id
// was enrolled before.
func (g *Gallery) Enroll(p Person, mode EnrollMode) (out Person, existed bool, err error) {
	if err := checkID(p.ID); err != nil {
		return Person{}, false, err
	}
	if err := CheckName(p.Name); err != nil {
		return Person{}, false, err
	}
	if _, err := ParseEnrollMode(string(mode)); err != nil {
		return Person{}, false, err
	}
	if len(p.Descriptors) == 0 {
		return Person{}, false, fmt.Errorf("enroll %q: no face descriptor", p.ID)
	}
	err = g.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(peopleBucket)
		out = p
		raw := b.Get([]byte(p.ID))
		existed = raw != nil
		switch {
		case existed && (mode == EnrollNew || mode == ""):
			return ErrPersonExists
		case existed && mode == EnrollAppend:
			var old Person
			if err := json.Unmarshal(raw, &old); err != nil {
				return fmt.Errorf("read %q: %w", p.ID, err)
			}
			out.Enrolled, out.Name, out.Photo = old.Enrolled, old.Name, old.Photo
			out.Descriptors = append(old.Descriptors, p.Descriptors...)
			if p.Name != "" {
				out.Name = p.Name
			}
			if len(p.Photo) > 0 {
				out.Photo = p.Photo
			}
		}
		if n := len(out.Descriptors); n > MaxDescriptors {
			out.Descriptors = slices.Clone(out.Descriptors[n-MaxDescriptors:])
		}
		if out.Enrolled.IsZero() {
			out.Enrolled = time.Now().UTC()
		}
		raw, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return b.Put([]byte(p.ID), raw)
	})
	if err != nil {
		return Person{}, existed, fmt.Errorf("enroll %q: %w", p.ID, err)
	}
	return out, existed, nil
}

// Get returns one person.
func (g *Gallery) Get(id string) (Person, error) {
	var p Person
	err := g.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(peopleBucket).Get([]byte(id))
		if raw == nil {
			return fmt.Errorf("%w: %q", ErrUnknownPerson, id)
		}
		return json.Unmarshal(raw, &p)
	})
	return p, err
}

// Delete removes a person.
func (g *Gallery) Delete(id string) error {
	return g.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(peopleBucket)
		if b.Get([]byte(id)) == nil {
			return fmt.Errorf("%w: %q", ErrUnknownPerson, id)
		}
		return b.Delete([]byte(id))
	})
}

// List returns every person, without photos, ordered by id.
func (g *Gallery) List() ([]Person, error) {
	var out []Person
	err := g.each(func(p Person) {
		p.Photo = nil
		out = append(out, p)
	})
	return out, err
}

func (g *Gallery) each(f func(Person)) error {
	return g.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(peopleBucket).ForEach(func(_, raw []byte) error {
			var p Person
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			f(p)
			return nil
		})
	})
}

// nearest is the smallest distance from d to any of a person's descriptors.
func nearest(p Person, d [128]float32) float64 {
	best := math.Inf(1)
	for _, e := range p.Descriptors {
		best = math.Min(best, Distance(e, d))
	}
	return best
}

// Verify compares a descriptor with one enrolled person (1:1) and reports
// whether it is the same person at the given threshold.
func (g *Gallery) Verify(id string, d [128]float32, threshold float64) (Match, bool, error) {
	p, err := g.Get(id)
	if err != nil {
		return Match{}, false, err
	}
	m := Match{ID: p.ID, Name: p.Name, Distance: nearest(p, d)}
	return m, m.Distance < threshold, nil
}

// Identify ranks the gallery against a descriptor (1:N) and returns the k
// nearest people.
func (g *Gallery) Identify(d [128]float32, k int) ([]Match, error) {
	var out []Match
	if err := g.each(func(p Person) {
		out = append(out, Match{ID: p.ID, Name: p.Name, Distance: nearest(p, d)})
	}); err != nil {
		return nil, fmt.Errorf("identify: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Distance < out[j].Distance })
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out, nil
}
