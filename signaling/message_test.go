package signaling

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeClientMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		typ  string
		code string
	}{
		{"join", `{"type":"join","id":1,"token":"t","mode":"live","role":"audience"}`, TypeJoin, ""},
		{"join without token", `{"type":"join","id":1}`, "", CodeBadRequest},
		{"join with bad role", `{"type":"join","token":"t","role":"admin"}`, "", CodeBadRequest},
		{"join with bad mode", `{"type":"join","token":"t","mode":"party"}`, "", CodeBadRequest},
		{"publish", `{"type":"publish","sdp":"v=0"}`, TypePublish, ""},
		{"publish without sdp", `{"type":"publish"}`, "", CodeBadRequest},
		{"answer without pc", `{"type":"answer","sdp":"v=0"}`, "", CodeBadRequest},
		{"candidate", `{"type":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`, TypeCandidate, ""},
		{"end of candidates", `{"type":"candidate","pc":"pub","candidate":null}`, TypeCandidate, ""},
		{"subscribe without uid", `{"type":"subscribe"}`, "", CodeBadRequest},
		{"mute", `{"type":"mute","kind":"audio","muted":false}`, TypeMute, ""},
		{"mute without muted", `{"type":"mute","kind":"audio"}`, "", CodeBadRequest},
		{"mute bad kind", `{"type":"mute","kind":"screen","muted":true}`, "", CodeBadRequest},
		{"ping", ` {"type":"ping","t":12.5} `, TypePing, ""},
		{"leave", `{"type":"leave"}`, TypeLeave, ""},
		{"server-only type", `{"type":"joined"}`, "", CodeUnknownType},
		{"unknown type", `{"type":"x"}`, "", CodeUnknownType},
		{"no type", `{}`, "", CodeUnknownType},
		{"array", `[]`, "", CodeBadJSON},
		{"empty", ``, "", CodeBadJSON},
		{"truncated", `{"type":"ping"`, "", CodeBadJSON},
		{"wrong field type", `{"type":"ping","id":"seven"}`, "", CodeBadJSON},
		{"too large", `{"type":"ping","x":"` + strings.Repeat("a", MaxMessageSize) + `"}`, "", CodeMessageTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeClientMessage([]byte(tc.in))
			if tc.code == "" {
				if err != nil || m.Type != tc.typ {
					t.Fatalf("got %v, %v; want type %s", m.Type, err, tc.typ)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got error %v, want code %s", err, tc.code)
			}
		})
	}
}

// FuzzDecodeClientMessage: no input panics, every rejection carries a
// documented code, and every accepted message has a known client type.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"join","id":1,"token":"a.b.c","role":"host","mode":"rtc","autoSubscribe":false,"session":"s"}`,
		`{"type":"publish","id":2,"sdp":"v=0\r\n","audioMuted":true}`,
		`{"type":"candidate","pc":"sub:7","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"type":"mute","kind":"video","muted":true}`, `{"type":"ping","t":1e308}`, `{"type":"\u0000"}`, `[`, `null`,
	} {
		f.Add([]byte(s))
	}
	codes := map[string]bool{CodeBadJSON: true, CodeUnknownType: true, CodeMessageTooLarge: true, CodeBadRequest: true}
	clientTypes := map[string]bool{TypeJoin: true, TypePublish: true, TypeUnpublish: true, TypeSubscribe: true, TypeUnsubscribe: true,
		TypeOffer: true, TypeAnswer: true, TypeCandidate: true, TypeRestart: true, TypeMute: true, TypeSetStreamType: true, TypeRenew: true, TypePing: true, TypeLeave: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeClientMessage(data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !codes[pe.Code] {
				t.Fatalf("rejection without a documented code: %v", err)
			}
			return
		}
		if !clientTypes[m.Type] {
			t.Fatalf("accepted a message of type %q", m.Type)
		}
		if m.Type == TypeMute && m.Muted == nil {
			t.Fatal("accepted mute without muted")
		}
	})
}
