package callcenter_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stoa-video/stoa/callcenter"
)

// FuzzDecodeLogBatch: any body either is refused or decodes into a batch
// within the limits, whose entries encode as valid JSON and decode again.
func FuzzDecodeLogBatch(f *testing.F) {
	for _, seed := range []string{
		`{"session":"1764600000123","batch":"b-1","entries":[{"ts":1764600000000,"level":"info","type":"join","message":{"a":1}}]}`,
		`{"session":"s","call":"0123456789abcdef012345","batch":"b","entries":[{"ts":1.5e12,"level":"LOG","message":"x","url":"https://x/y"}]}`,
		`{"session":"s","batch":"b","entries":[{"level":"warning","message":null},{"ts":-1,"level":"nope"}]}`,
		`{"session":"s","batch":"b","entries":[]} {"again":1}`,
		`{"session":"a/b","batch":"b"}`,
		`{"session":"s","batch":"b","entries":[{"message":"` + strings.Repeat("é", 9000) + `"}]}`,
		`[]`, `null`, `{"entries":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := callcenter.DecodeLogBatch(bytes.NewReader(body))
		if err != nil {
			return
		}
		if b.Session == "" || b.Batch == "" || len(b.Session) > 128 || len(b.Batch) > 128 || len(b.Entries) > callcenter.MaxLogEntries {
			t.Fatalf("batch out of bounds: session %q batch %q, %d entries", b.Session, b.Batch, len(b.Entries))
		}
		for _, e := range b.Entries {
			if !slices.Contains(callcenter.LogLevels, e.Level) {
				t.Fatalf("level %q", e.Level)
			}
			if len(e.Message) > callcenter.MaxLogMessage || (len(e.Message) > 0 && !json.Valid(e.Message)) {
				t.Fatalf("message of %d bytes, valid %v", len(e.Message), json.Valid(e.Message))
			}
			if len(e.URL) > callcenter.MaxLogField+len("…(truncated)") || !utf8.ValidString(e.URL) || !utf8.ValidString(e.Type) {
				t.Fatalf("field out of bounds: url %d bytes", len(e.URL))
			}
		}
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode decoded batch: %v", err)
		}
		again, err := callcenter.DecodeLogBatch(bytes.NewReader(raw))
		if err != nil || len(again.Entries) != len(b.Entries) {
			t.Fatalf("a decoded batch does not decode again: %v", err)
		}
	})
}

// FuzzEndInfo: the agent's filing of a call is accepted only within its
// bounds, never with control characters outside the notes' line breaks.
func FuzzEndInfo(f *testing.F) {
	f.Add("resolved", "INC-1", "windscreen\nphotos")
	f.Add("fixed", "", "")
	f.Add("other", "INC\x00", "")
	f.Add("no-show", "", strings.Repeat("x", 4001))
	f.Fuzz(func(t *testing.T, outcome, incident, notes string) {
		e := callcenter.EndInfo{Outcome: callcenter.Outcome(outcome), IncidentNo: incident, Notes: notes}
		if e.Check() != nil {
			return
		}
		if !slices.Contains(callcenter.Outcomes, e.Outcome) || utf8.RuneCountInString(incident) > callcenter.MaxIncidentLen ||
			utf8.RuneCountInString(notes) > callcenter.MaxNotesLen || !utf8.ValidString(incident+notes) ||
			strings.ContainsAny(incident, "\x00\n\r\t\x7f") {
			t.Fatalf("accepted %+v", e)
		}
	})
}
