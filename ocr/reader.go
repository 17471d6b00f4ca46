package ocr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Field is one value read from a document, with whether it passed the
// document's own checks (checksums, real dates, agreement with other fields),
// so that a misread is reported as such rather than returned as truth.
type Field struct {
	// Value is the normalized value: dates as YYYY-MM-DD, numbers without
	// separators, confusable glyphs corrected where only digits may stand.
	Value string `json:"value"`
	// Confidence is the lowest recognizer score of the lines the value came from.
	Confidence float32 `json:"confidence"`
	// Valid reports that the value passed every check that applies to it.
	Valid bool `json:"valid"`
	// Reason says why the value is not valid; empty when it is.
	Reason string `json:"reason,omitempty"`
}

// Result is what a reader found in one document's lines.
type Result struct {
	// Kind is the document kind read: one of Kinds, except that "idcard"
	// becomes "idcard-front" or "idcard-back".
	Kind string `json:"kind"`
	// Fields maps a field name (name, id_number, card_number, …) to its value.
	// A required field that was not found is present with Reason "not found".
	Fields map[string]Field `json:"fields"`
	// Valid reports that every required field was found and every field is valid.
	Valid bool `json:"valid"`
	// Lines are the OCR lines the result was read from.
	Lines []Line `json:"lines"`
}

// ErrUnknownKind is returned (wrapped) by ReadFields for a kind not in Kinds.
var ErrUnknownKind = errors.New("unknown document kind")

// Kinds lists the document kinds ReadFields understands: the Chinese resident
// ID card (front or back, detected), bank card, business licence (营业执照),
// vehicle licence plate, driving licence (驾驶证), business card, and plain text.
var Kinds = []string{"idcard", "bankcard", "bizlicense", "plate", "driving", "card", "text"}

// now is the clock behind "not in the future" checks; tests replace it.
var now = time.Now

// ReadFields reads the fields of a document of the given kind from its OCR
// lines (in reading order) and validates them. The only error is an unknown
// kind; a document that cannot be read gives a Result with Valid false.
//
// Fields by kind (* optional, present only when printed):
//
//	idcard-front  name sex ethnicity birth_date address id_number
//	idcard-back   issuing_authority valid_from valid_to
//	bankcard      card_number expiry* network* bank*
//	bizlicense    credit_code name legal_rep address established
//	plate         plate type* (ordinary, new-energy-small, police, …)
//	driving       name sex nationality address birth_date first_issue class
//	              id_number valid_from valid_to
//	card          name title* company* phone phone2* email address*
//	              (valid with a name and a phone or an email)
//	text          none
func ReadFields(kind string, lines []Line) (Result, error) {
	var r Result
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "idcard":
		r = readIDCard(lines)
	case "bankcard":
		r = readBankCard(lines)
	case "bizlicense":
		r = readBizLicense(lines)
	case "plate":
		r = readPlate(lines)
	case "driving":
		r = readDrivingLicense(lines)
	case "card":
		r = readBusinessCard(lines)
	case "text":
		r = Result{Kind: "text", Fields: map[string]Field{}, Valid: true}
	default:
		return Result{}, fmt.Errorf("read fields of %q: %w (known kinds: %s)",
			kind, ErrUnknownKind, strings.Join(Kinds, ", "))
	}
	r.Lines = slices.Clone(lines)
	return r, nil
}

// fieldSet collects a reader's fields.
type fieldSet map[string]Field

// ok records a valid field.
func (fs fieldSet) ok(name, value string, conf float32) {
	fs[name] = Field{Value: value, Confidence: conf, Valid: true}
}

// bad records a field that failed a check, with the reason.
func (fs fieldSet) bad(name, value string, conf float32, reason string) {
	fs[name] = Field{Value: value, Confidence: conf, Reason: reason}
}

// check records a field as valid when err is nil and as invalid with err's
// text as the reason otherwise.
func (fs fieldSet) check(name, value string, conf float32, err error) {
	if err != nil {
		fs.bad(name, value, conf, err.Error())
		return
	}
	fs.ok(name, value, conf)
}

// invalidate marks an already recorded field invalid, keeping its value.
func (fs fieldSet) invalidate(name, reason string) {
	if f, found := fs[name]; found && f.Valid {
		f.Valid, f.Reason = false, reason
		fs[name] = f
	}
}

// valid reports whether name was recorded and is valid.
func (fs fieldSet) valid(name string) bool { return fs[name].Valid }

// result completes a Result: required fields that are missing are added with
// Reason "not found", and Valid is set when all required fields are present
// and every field is valid.
func (fs fieldSet) result(kind string, required ...string) Result {
	for _, name := range required {
		if _, found := fs[name]; !found {
			fs[name] = Field{Reason: "not found"}
		}
	}
	valid := true
	for _, f := range fs {
		valid = valid && f.Valid
	}
	return Result{Kind: kind, Fields: map[string]Field(fs), Valid: valid}
}
