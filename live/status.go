package live

import "sort"

// HostStatus is one publishing host of a room as an operator's console
// shows it: how it arrives, what it sends, and who watches it over what.
type HostStatus struct {
	UID string `json:"uid"`
	// Protocol is how the host publishes: "whip", or "sdk" (the websocket).
	Protocol string `json:"protocol"`
	Codec    string `json:"codec,omitempty"`
	// Bitrate is what arrives from the host, audio and video, in bit/s.
	Bitrate uint64 `json:"bitrate"`
	// Viewers counts the participants receiving the host, by protocol
	// ("whep", "sdk").
	Viewers map[string]int `json:"viewers"`
}

// Status returns room's publishing hosts, ok false when there is no such
// room.
func (w *Service) Status(room string) (hosts []HostStatus, ok bool) {
	r := w.sfu.Room(room)
	if r == nil {
		return nil, false
	}
	w.mu.Lock()
	kind := map[string]string{} // uid → "whip" or "whep", for this room's sessions
	for _, s := range w.sessions {
		if s.room != room {
			continue
		}
		if s.watch == "" {
			kind[s.uid] = "whip"
		} else {
			kind[s.uid] = "whep"
		}
	}
	w.mu.Unlock()
	parts := r.Participants()
	for _, st := range r.Snapshot(nil).Streams {
		h := HostStatus{UID: st.UID, Protocol: "sdk", Codec: st.Codec, Viewers: map[string]int{"whep": 0, "sdk": 0}}
		if kind[st.UID] == "whip" {
			h.Protocol = "whip"
		}
		for _, p := range parts {
			switch {
			case p.UID() == st.UID:
				for _, u := range p.UpTracks() {
					h.Bitrate += u.Stats().Bitrate
				}
			case p.Subscribed(st.UID) && kind[p.UID()] == "whep":
				h.Viewers["whep"]++
			case p.Subscribed(st.UID):
				h.Viewers["sdk"]++
			}
		}
		hosts = append(hosts, h)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].UID < hosts[j].UID })
	return hosts, true
}
