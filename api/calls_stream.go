package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/stoa-video/stoa/callcenter"
)

// stream writes st's events to w as Server-Sent Events until the client
// goes (the request's context), the stream ends (the service closes, or the
// client fell behind and should reconnect), or a write fails. The request's
// goroutine is the only one involved, so the stream has one owner.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, st *callcenter.Stream) {
	heartbeat := s.opts.Calls.Heartbeat
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	// The server's WriteTimeout (3 minutes in cmd/stoa) would cut the
	// stream: each write gets a deadline of its own instead, so a client
	// that stopped reading is still dropped. (net/http clears the read
	// deadline itself once the request is read.)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(chunk []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(2*heartbeat + 10*time.Second))
		if _, err := w.Write(chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: the EventSource's reconnect delay; every stream starts with the
	// whole state, so a reconnect loses nothing.
	if !write([]byte("retry: 3000\n\n")) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-st.Events():
			if !ok || !write(sseEvent(ev)) {
				return
			}
		case <-tick.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		}
	}
}

// sseEvent frames ev: its name, and its data as one line of JSON.
func sseEvent(ev callcenter.Event) []byte {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		data = []byte(`{}`)
	}
	out := make([]byte, 0, len(ev.Name)+len(data)+16)
	out = append(out, "event: "...)
	out = append(out, ev.Name...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}
