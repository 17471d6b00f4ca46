package signaling

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stoa-video/stoa/sfu"
)

// A simulcast publisher's "layers" event reaches its socket with the rids to
// send, which the SDK needs to pause the others.
func TestNotifyLayers(t *testing.T) {
	c := testConn()
	ss := &session{srv: NewServer(Options{Logger: slog.New(slog.DiscardHandler)}), conn: c, claims: &Claims{UID: "u"},
		pendingSubs: map[string]int64{}, log: slog.New(slog.DiscardHandler)}
	ss.Notify(sfu.Event{Type: sfu.EventLayers, UID: "u", Layers: []string{"h", "l"}})
	var m Message
	if err := json.Unmarshal((<-c.out).data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != TypeLayers || m.UID != "u" || len(m.Layers) != 2 || m.Layers[0] != "h" || m.Layers[1] != "l" {
		t.Fatalf("sent %+v, want layers [h l] for u", m)
	}
}
