package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// loadCatalog lists the recordings already on disk, from their manifests,
// so they outlive a restart.
func (s *Service) loadCatalog() {
	names, err := filepath.Glob(filepath.Join(s.opts.Dir, "*.json"))
	if err != nil {
		return
	}
	for _, name := range names {
		m, err := ReadManifest(name)
		if err != nil || m.RecordingID == "" {
			continue
		}
		info, ok := s.done[m.RecordingID]
		if !ok {
			info = Summary{ID: m.RecordingID, Room: m.Room, UID: m.UID, Tags: m.Tags, State: "stopped", Started: m.Start, Stopped: m.End}
		}
		if m.Start.Before(info.Started) {
			info.Started = m.Start
		}
		if m.End.After(info.Stopped) {
			info.Stopped = m.End
		}
		info.Parts = append(info.Parts, PartInfo{File: m.File, DurationMs: m.DurationMS, Bytes: m.Bytes, VideoCodec: m.VideoCodec,
			AudioCodec: m.AudioCodec, Width: m.Width, Height: m.Height})
		sort.Slice(info.Parts, func(a, b int) bool { return info.Parts[a].File < info.Parts[b].File })
		s.done[m.RecordingID] = info
	}
}

// Get describes a recording.
func (s *Service) Get(id string) (Summary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.active[id]; ss != nil {
		return ss.info, true
	}
	info, ok := s.done[id]
	return info, ok
}

// Filter selects recordings in List; an empty field selects all.
type Filter struct {
	Room, UID, Tag string
	// Since and Until bound the start time.
	Since, Until time.Time
}

// List returns the recordings this server knows of (running, stopped since it
// started, and those found on disk at start), newest first.
func (s *Service) List(f Filter) []Summary {
	s.mu.Lock()
	out := make([]Summary, 0, len(s.active)+len(s.done))
	for _, ss := range s.active {
		out = append(out, ss.info)
	}
	for _, info := range s.done {
		out = append(out, info)
	}
	s.mu.Unlock()
	out = slices.DeleteFunc(out, func(i Summary) bool {
		return (f.Room != "" && i.Room != f.Room) || (f.UID != "" && i.UID != f.UID) ||
			(f.Tag != "" && !slices.Contains(i.Tags, f.Tag)) ||
			(!f.Since.IsZero() && i.Started.Before(f.Since)) || (!f.Until.IsZero() && i.Started.After(f.Until))
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Started.After(out[b].Started) })
	return out
}

// ErrRunning refuses to delete a recording that is still running.
var ErrRunning = errors.New("the recording is running: stop it first")

// Delete removes a stopped recording's files and manifests.
func (s *Service) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[id] != nil {
		return ErrRunning
	}
	info, ok := s.done[id]
	if !ok {
		return fmt.Errorf("delete %s: %w", id, ErrNotFound)
	}
	var errs []error
	for _, p := range info.Parts {
		for _, name := range []string{p.File, p.File + ".json"} {
			if err := os.Remove(filepath.Join(s.opts.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	delete(s.done, id)
	s.opts.Log.Info("recording deleted", "id", id, "room", info.Room, "uid", info.UID)
	return errors.Join(errs...)
}
