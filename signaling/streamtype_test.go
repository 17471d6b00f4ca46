package signaling_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
)

// set-stream-type is checked before it reaches the sfu: a uid, and a
// streamType of 0 (high) or 1 (low), Agora's numbers.
func TestDecodeSetStreamType(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code string // "" = accepted
	}{
		{"high", `{"type":"set-stream-type","id":3,"uid":"2002","streamType":0}`, ""},
		{"low", `{"type":"set-stream-type","id":3,"uid":"2002","streamType":1}`, ""},
		{"no uid", `{"type":"set-stream-type","streamType":1}`, signaling.CodeBadRequest},
		{"no streamType", `{"type":"set-stream-type","uid":"2002"}`, signaling.CodeBadRequest},
		{"streamType null", `{"type":"set-stream-type","uid":"2002","streamType":null}`, signaling.CodeBadRequest},
		{"streamType 2", `{"type":"set-stream-type","uid":"2002","streamType":2}`, signaling.CodeBadRequest},
		{"streamType -1", `{"type":"set-stream-type","uid":"2002","streamType":-1}`, signaling.CodeBadRequest},
		{"streamType as a string", `{"type":"set-stream-type","uid":"2002","streamType":"1"}`, signaling.CodeBadJSON},
		{"streamType not an integer", `{"type":"set-stream-type","uid":"2002","streamType":0.5}`, signaling.CodeBadJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := signaling.DecodeClientMessage([]byte(tc.in))
			if tc.code == "" {
				if err != nil || m.Type != signaling.TypeSetStreamType || m.StreamType == nil {
					t.Fatalf("got %+v, %v; want an accepted set-stream-type", m, err)
				}
				return
			}
			var pe *signaling.Error
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got error %v, want code %s", err, tc.code)
			}
		})
	}
}

// Any joined participant may choose the layer it receives, of a publisher
// in the room, before or after subscribing (the sfu keeps the choice for the
// subscription to come); the reply echoes the choice, a uid not in the room is
// refused (stream_not_found: the choices stay bounded by the room), and a
// refusal leaves the socket open.
func TestSetStreamType(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts := newTestServer(t)
	host := ts.dial(ctx, "st", "1001", signaling.RoleHost)
	viewer := ts.dial(ctx, "st", "2002", signaling.RoleAudience, func(o *client.Options) { o.Role = "audience" })

	for _, c := range []struct {
		who string
		uid string
		t   sfu.StreamType
	}{
		{"an audience viewer, of a participant who is there", "1001", sfu.StreamLow},
		{"an audience viewer, back to high", "1001", sfu.StreamHigh},
	} {
		if err := viewer.SetRemoteStreamType(ctx, c.uid, c.t); err != nil {
			t.Fatalf("%s: %v", c.who, err)
		}
	}
	var nf *signaling.Error
	if err := viewer.SetRemoteStreamType(ctx, "3003", sfu.StreamLow); !errors.As(err, &nf) || nf.Code != signaling.CodeStreamNotFound {
		t.Fatalf("a uid not in the room: %v, want %s", err, signaling.CodeStreamNotFound)
	}
	if err := host.SetRemoteStreamType(ctx, "2002", sfu.StreamLow); err != nil {
		t.Fatalf("a host: %v", err)
	}

	low := 1
	reply, err := viewer.Request(ctx, signaling.Message{Type: signaling.TypeSetStreamType, UID: "1001", StreamType: &low})
	if err != nil || reply.Type != signaling.TypeStreamTypeSet || reply.UID != "1001" || reply.StreamType == nil || *reply.StreamType != 1 {
		t.Fatalf("reply %+v, %v; want stream-type-set for 1001 with streamType 1", reply, err)
	}
	bad := 7
	_, err = viewer.Request(ctx, signaling.Message{Type: signaling.TypeSetStreamType, UID: "1001", StreamType: &bad})
	var pe *signaling.Error
	if !errors.As(err, &pe) || pe.Code != signaling.CodeBadRequest {
		t.Fatalf("streamType 7: %v, want %s", err, signaling.CodeBadRequest)
	}
	if _, err := viewer.Request(ctx, signaling.Message{Type: signaling.TypePing}); err != nil {
		t.Fatalf("the socket after a refused set-stream-type: %v", err)
	}
}
