package live

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSDPFrag(t *testing.T) {
	for _, c := range []struct {
		name, body   string
		ufrag        string
		candidates   int
		mid          string
		end, wantErr bool
	}{
		{name: "RFC 9725's example", body: "a=ice-options:trickle ice2\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\na=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\na=end-of-candidates\r\n",
			ufrag: "EsAw", candidates: 2, mid: "0", end: true},
		{name: "credentials only", body: "a=ice-ufrag:abcd\na=ice-pwd:efgh\n", ufrag: "abcd"},
		{name: "a candidate without a mid", body: "m=video 9 UDP/TLS/RTP/SAVPF 96\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\n", candidates: 1},
		{name: "a short candidate", body: "a=candidate:1 1 udp\n", wantErr: true},
		{name: "not SDP", body: "hello", wantErr: true},
		{name: "empty", body: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseSDPFrag(c.body)
			if c.wantErr {
				if !errors.Is(err, ErrBadFragment) {
					t.Fatalf("err %v, want ErrBadFragment", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Ufrag != c.ufrag || len(f.Candidates) != c.candidates || f.End != c.end {
				t.Fatalf("%+v, want ufrag %q, %d candidates, end %v", f, c.ufrag, c.candidates, c.end)
			}
			if c.mid != "" && (f.Candidates[0].SDPMid == nil || *f.Candidates[0].SDPMid != c.mid) {
				t.Errorf("the candidate's mid is %v, want %q", f.Candidates[0].SDPMid, c.mid)
			}
			if c.mid == "" && c.candidates > 0 && (f.Candidates[0].SDPMLineIndex == nil || *f.Candidates[0].SDPMLineIndex != 0) {
				t.Errorf("a candidate without a mid should carry its m-line index 0: %+v", f.Candidates[0])
			}
		})
	}
	if _, err := ParseSDPFrag(strings.Repeat("a=x\n", 300)); !errors.Is(err, ErrBadFragment) {
		t.Errorf("a 300-line fragment: %v, want ErrBadFragment", err)
	}
}

// FuzzParseSDPFrag feeds arbitrary bodies to the trickle fragment parser, as
// a client may send: it never panics, and every candidate it returns has
// the fields of one.
func FuzzParseSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n")
	f.Add("a=end-of-candidates")
	f.Fuzz(func(t *testing.T, body string) {
		frag, err := ParseSDPFrag(body)
		if err != nil {
			return
		}
		for _, c := range frag.Candidates {
			if len(c.Candidate) < len("candidate:") {
				t.Fatalf("candidate %q", c.Candidate)
			}
		}
	})
}
