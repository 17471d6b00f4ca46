package recorder

import "time"

// defaultRepublishWait is ServiceOptions.RepublishWait's default.
const defaultRepublishWait = 30 * time.Second

// keptPart is a finished part of a recording with the counters of the
// publication it recorded, for its manifest.
type keptPart struct {
	Part
	stats Stats
}

func appendKept(kept []keptPart, parts []Part, st Stats) []keptPart {
	for _, p := range parts {
		kept = append(kept, keptPart{Part: p, stats: st})
	}
	return kept
}

// recOptions are the options of ss's next Recording: its parts are
// numbered on from those of its earlier publications.
func (s *Service) recOptions(ss *session) Options {
	id := ss.info.ID
	return Options{ID: id, Dir: s.opts.Dir, Room: ss.info.Room, UID: ss.info.UID, Tags: ss.info.Tags,
		Log: s.opts.Log, OnFailed: func(err error) { s.failed(id, err) }, FirstPart: len(ss.earlier) + 1}
}

// holdAsync finalizes the files of ss's publication, which has ended while
// its participant stays, on a goroutine of the service's, and keeps the
// recording waiting for the participant to publish again: a codec or
// camera switch is an unpublish and a publish, and the recording is one
// piece of evidence across it. Past RepublishWait the recording stops.
func (s *Service) holdAsync(ss *session) { s.goAsync(func() { s.hold(ss) }) }

func (s *Service) hold(ss *session) {
	ss.op.Lock()
	defer ss.op.Unlock()
	ups := ss.part.UpTracks() // the participant's lock is never taken under s.mu
	s.mu.Lock()
	rec := ss.rec
	if s.active[ss.info.ID] != ss || rec == nil || rec.records(ups) {
		s.mu.Unlock()
		return // stopped, or already going on with a newer publication
	}
	ss.rec = nil
	s.mu.Unlock()
	if err := s.finishPublication(ss, rec); err != nil {
		_, _ = s.stopLocked(ss, err)
		return
	}
	s.mu.Lock()
	ss.hold = time.AfterFunc(s.opts.RepublishWait, func() { s.expire(ss) })
	s.mu.Unlock()
	s.opts.Log.Info("recording waits for its participant to publish again", "id", ss.info.ID, "room", ss.info.Room,
		"uid", ss.info.UID, "parts", len(ss.earlier), "wait", s.opts.RepublishWait)
}

// finishPublication finalizes rec's files and keeps its parts (op held).
func (s *Service) finishPublication(ss *session, rec *Recording) error {
	parts, err := rec.Stop()
	ss.earlier = appendKept(ss.earlier, parts, rec.Stats())
	return err
}

// expire stops a recording whose participant did not publish again in time.
func (s *Service) expire(ss *session) {
	ss.op.Lock()
	defer ss.op.Unlock()
	s.mu.Lock()
	waiting := s.active[ss.info.ID] == ss && ss.rec == nil
	s.mu.Unlock()
	if waiting {
		_, _ = s.stopLocked(ss, nil)
	}
}

// resume goes on with ss now that its participant publishes again: the
// files of an earlier publication still attached are finalized first (its
// hold may not have run yet), then a new Recording takes the new tracks.
func (s *Service) resume(ss *session) {
	ss.op.Lock()
	defer ss.op.Unlock()
	ups := ss.part.UpTracks()
	s.mu.Lock()
	rec := ss.rec
	if s.active[ss.info.ID] != ss || len(ups) == 0 || (rec != nil && rec.records(ups)) {
		s.mu.Unlock()
		return
	}
	ss.rec = nil
	if ss.hold != nil {
		ss.hold.Stop()
		ss.hold = nil
	}
	s.mu.Unlock()
	if rec != nil {
		if err := s.finishPublication(ss, rec); err != nil {
			_, _ = s.stopLocked(ss, err)
			return
		}
	}
	next, err := Start(ups, s.recOptions(ss))
	if err != nil {
		s.opts.Log.Warn("recording could not go on after a republish", "id", ss.info.ID, "err", err)
		_, _ = s.stopLocked(ss, err)
		return
	}
	s.mu.Lock()
	ss.rec = next
	s.mu.Unlock()
	s.opts.Log.Info("recording goes on after a republish", "id", ss.info.ID, "room", ss.info.Room, "uid", ss.info.UID,
		"part", len(ss.earlier)+1)
}
