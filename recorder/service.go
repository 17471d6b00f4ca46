package recorder

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stoa-video/stoa/sfu"
)

// Events the room is told (the SDK turns them into its own events).
const (
	EventStarted = "recording-started"
	EventStopped = "recording-stopped"
	EventFailed  = "recording-failed"
)

// Errors the API maps to its codes.
var (
	ErrNotFound     = errors.New("no such recording")
	ErrNotPublished = errors.New("the participant publishes nothing to record")
)

// ServiceOptions configure the server's recordings.
type ServiceOptions struct {
	// Dir holds the files and their manifests.
	Dir string
	// Key signs the manifests; nil writes none.
	Key ed25519.PrivateKey
	// Tags are the participant tags recorded as soon as they publish (the
	// room policy; the seed records its customers).
	Tags []string
	Log  *slog.Logger
	// RepublishWait is how long a recording whose participant stopped
	// publishing without leaving waits for it to publish again (a switch of
	// codec or camera); it then goes on in a new part under the same id.
	// 0 means 30 s.
	RepublishWait time.Duration
	// OnEvent, if set, is told when a recording starts, stops or fails
	// (EventStarted, EventStopped, EventFailed), so the call center can file
	// it with its call and tell its webhooks. It must not call back into the
	// Service.
	OnEvent func(event string, info Summary)
}

// Service runs the server's recordings: started through the API or by the
// room policy, stopped through the API, when the participant leaves (or
// does not publish again in time), and all at once at shutdown. It is the
// sfu's Observer.
type Service struct {
	opts ServiceOptions

	mu     sync.Mutex
	active map[string]*session
	byPart map[*sfu.Participant]*session
	done   map[string]Summary
	closed bool
	wg     sync.WaitGroup
}

var _ sfu.Observer = (*Service)(nil)

// session is one recording in progress.
type session struct {
	info Summary
	part *sfu.Participant
	// op serializes what changes the recording (hold, resume, stop); it is
	// taken before Service.mu, never while holding it.
	op sync.Mutex
	// rec records the current publication; nil while the recording waits
	// for its participant to publish again (rec and hold change under
	// Service.mu with op held).
	rec  *Recording
	hold *time.Timer
	// earlier are the finished parts of the participant's earlier
	// publications in this recording, with their counters.
	earlier []keptPart
}

// Summary describes a recording, running or finished.
type Summary struct {
	ID      string     `json:"id"`
	Room    string     `json:"room"`
	UID     string     `json:"uid"`
	Tags    []string   `json:"tags,omitempty"`
	State   string     `json:"state"` // recording, stopped, failed
	Error   string     `json:"error,omitempty"`
	Started time.Time  `json:"started"`
	Stopped time.Time  `json:"stopped,omitzero"`
	Parts   []PartInfo `json:"parts,omitempty"`
}

// PartInfo is one file of a recording.
type PartInfo struct {
	File       string `json:"file"`
	DurationMs int64  `json:"duration_ms"`
	Bytes      int64  `json:"bytes"`
	VideoCodec string `json:"video_codec,omitempty"`
	AudioCodec string `json:"audio_codec,omitempty"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
}

// NewService makes the directory and the service.
func NewService(o ServiceOptions) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.RepublishWait <= 0 {
		o.RepublishWait = defaultRepublishWait
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings directory: %w", err)
	}
	s := &Service{opts: o, active: map[string]*session{}, byPart: map[*sfu.Participant]*session{}, done: map[string]Summary{}}
	s.loadCatalog()
	return s, nil
}

// PublicKey verifies the manifests, or is nil when none are signed.
func (s *Service) PublicKey() ed25519.PublicKey {
	if s.opts.Key == nil {
		return nil
	}
	return s.opts.Key.Public().(ed25519.PublicKey)
}

// Dir is where the recordings are.
func (s *Service) Dir() string { return s.opts.Dir }

// StreamPublished starts a recording by the room policy.
func (s *Service) StreamPublished(p *sfu.Participant) {
	s.mu.Lock()
	ss := s.byPart[p]
	s.mu.Unlock()
	if ss != nil { // published again: its recording goes on in a new part
		s.resume(ss)
		return
	}
	if tag := p.Info().Tag; tag != "" && slices.Contains(s.opts.Tags, tag) {
		if _, err := s.Start(p); err != nil {
			s.opts.Log.Warn("recording by policy failed to start", "room", p.Room().ID(), "uid", p.UID(), "err", err)
		}
	}
}

// ParticipantJoined tells a newcomer which of its room's participants are
// being recorded, so its page shows the indicator too.
func (s *Service) ParticipantJoined(p *sfu.Participant) {
	room := p.Room().ID()
	s.mu.Lock()
	var uids []string
	for _, ss := range s.active {
		if ss.info.Room == room {
			uids = append(uids, ss.info.UID)
		}
	}
	s.mu.Unlock()
	for _, uid := range uids {
		p.Notify(sfu.Event{Type: EventStarted, UID: uid})
	}
}

// StreamUnpublished stops the participant's recording when it leaves; when
// it only stopped publishing, the recording waits RepublishWait for it to
// publish again (see holdAsync).
func (s *Service) StreamUnpublished(p *sfu.Participant) {
	s.mu.Lock()
	ss := s.byPart[p]
	s.mu.Unlock()
	switch {
	case ss == nil:
	case p.Closed():
		s.stopAsync(ss.info.ID)
	default:
		s.holdAsync(ss)
	}
}

// stopAsync stops a recording on a goroutine of the service's, so the
// caller (the media core's unpublish) does not wait for the file's end.
func (s *Service) stopAsync(id string) {
	s.goAsync(func() { _, _ = s.Stop(id) })
}

// goAsync runs f on a goroutine the service owns (Close waits for it),
// unless the service is closing.
func (s *Service) goAsync(f func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Start records p's current publication and returns the recording's id (the
// running one's, if p is already recorded).
func (s *Service) Start(p *sfu.Participant) (string, error) {
	ups := p.UpTracks()
	if len(ups) == 0 {
		return "", ErrNotPublished
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", errors.New("recordings are shutting down")
	}
	if ss := s.byPart[p]; ss != nil {
		if ss.rec == nil {
			s.mu.Unlock()
			s.resume(ss)
			s.mu.Lock()
		}
		return ss.info.ID, nil
	}
	id := newID()
	pi := p.Info()
	ss := &session{part: p, info: Summary{ID: id, Room: p.Room().ID(), UID: p.UID(), State: "recording", Started: time.Now().UTC()}}
	if pi.Tag != "" {
		ss.info.Tags = []string{pi.Tag}
	}
	rec, err := Start(ups, s.recOptions(ss))
	if err != nil {
		return "", err
	}
	ss.rec = rec
	s.active[id], s.byPart[p] = ss, ss
	s.opts.Log.Info("recording started", "id", id, "room", ss.info.Room, "uid", ss.info.UID)
	p.Room().Notify(sfu.Event{Type: EventStarted, UID: ss.info.UID})
	s.event(EventStarted, ss.info)
	return id, nil
}

// failed ends a recording that hit an error (a full disk): its files are
// kept and finalized as far as they go, the room is told, the call goes on.
func (s *Service) failed(id string, err error) {
	s.mu.Lock()
	ss := s.active[id]
	s.mu.Unlock()
	if ss == nil {
		return
	}
	s.opts.Log.Warn("recording failed", "id", id, "room", ss.info.Room, "uid", ss.info.UID, "err", err)
	ss.part.Room().Notify(sfu.Event{Type: EventFailed, UID: ss.info.UID, Reason: failReason(err)})
	failed := ss.info
	failed.State, failed.Error = "failed", err.Error()
	s.event(EventFailed, failed)
	s.stopAsync(id)
}

// failReason is what the room hears of a failed recording: what happened,
// without the server's paths (the operator's log and API have the error).
func failReason(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return "disk full"
	}
	return "write error"
}

// Stop ends a recording, finalizes its files and writes their signed
// manifests.
func (s *Service) Stop(id string) (Summary, error) {
	s.mu.Lock()
	ss := s.active[id]
	s.mu.Unlock()
	if ss != nil {
		ss.op.Lock()
		defer ss.op.Unlock()
		return s.stopLocked(ss, nil)
	}
	return s.stopped(id)
}

// stopped describes a recording that has ended.
func (s *Service) stopped(id string) (Summary, error) {
	s.mu.Lock()
	info, ok := s.done[id]
	s.mu.Unlock()
	if !ok {
		return Summary{}, fmt.Errorf("stop %s: %w", id, ErrNotFound)
	}
	return info, nil
}

// stopLocked ends ss (its op held): the current publication's files are
// finalized, and every part gets its signed manifest. err is an error that
// already ended the recording (a full disk met while it was held).
func (s *Service) stopLocked(ss *session, err error) (Summary, error) {
	id := ss.info.ID
	s.mu.Lock()
	if s.active[id] != ss { // stopped while this call waited for op
		s.mu.Unlock()
		return s.stopped(id)
	}
	delete(s.active, id)
	delete(s.byPart, ss.part)
	if ss.hold != nil {
		ss.hold.Stop()
	}
	rec := ss.rec
	ss.rec = nil
	s.mu.Unlock()

	if rec != nil {
		if rerr := s.finishPublication(ss, rec); err == nil {
			err = rerr
		}
	}
	kept := ss.earlier
	info := ss.info
	info.Stopped, info.State = time.Now().UTC(), "stopped"
	if err != nil {
		info.State, info.Error = "failed", err.Error()
	}
	for i, k := range kept {
		p := k.Part
		pi := PartInfo{File: filepath.Base(p.Path), DurationMs: p.DurationMs, VideoCodec: p.VideoCodec, AudioCodec: p.AudioCodec,
			Width: p.Width, Height: p.Height}
		if fi, serr := os.Stat(p.Path); serr == nil {
			pi.Bytes = fi.Size()
		}
		info.Parts = append(info.Parts, pi)
		if merr := s.writeManifest(info, i+1, p, k.stats); merr != nil {
			s.opts.Log.Warn("recording manifest", "id", id, "file", p.Path, "err", merr)
		}
	}
	s.mu.Lock()
	s.done[id] = info
	s.mu.Unlock()
	s.opts.Log.Info("recording stopped", "id", id, "room", info.Room, "uid", info.UID, "parts", len(kept), "state", info.State)
	ss.part.Room().Notify(sfu.Event{Type: EventStopped, UID: info.UID})
	s.event(EventStopped, info)
	return info, err
}

// event tells OnEvent, if set.
func (s *Service) event(typ string, info Summary) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(typ, info)
	}
}

// writeManifest hashes a finished part and writes its signed manifest.
func (s *Service) writeManifest(info Summary, n int, p Part, st Stats) error {
	if s.opts.Key == nil {
		return nil
	}
	fh, err := HashFile(p.Path)
	if err != nil {
		return err
	}
	m := &Manifest{Version: 1, File: filepath.Base(p.Path), Room: info.Room, UID: info.UID, Tags: info.Tags,
		RecordingID: info.ID, Part: n, Start: p.Start.UTC(), End: p.End.UTC(), VideoCodec: p.VideoCodec,
		AudioCodec: p.AudioCodec, Width: p.Width, Height: p.Height, DurationMS: p.DurationMs,
		Counters: map[string]uint64{"frames": st.Frames, "dropped": st.Dropped, "gaps": st.Gaps, "lost": st.Lost,
			"late": st.Late, "queue_drops": st.QueueDrops}}
	m.SetHashes(fh)
	if err := m.Sign(s.opts.Key); err != nil {
		return err
	}
	return WriteManifest(ManifestPath(p.Path), m)
}

// ForParticipant returns the id of p's running recording, if any.
func (s *Service) ForParticipant(p *sfu.Participant) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.byPart[p]; ss != nil {
		return ss.info.ID, true
	}
	return "", false
}

// Active returns how many recordings are running now, for the operator's
// metrics.
func (s *Service) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// FilePath is the path of a recording's part file, checked to be a plain
// name inside the directory.
func (s *Service) FilePath(name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("file %q: %w", name, ErrNotFound)
	}
	return filepath.Join(s.opts.Dir, name), nil
}

// Close stops every recording, finalizing its files (SIGTERM), and waits.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	ids := make([]string, 0, len(s.active))
	for id := range s.active {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		_, _ = s.Stop(id)
	}
	s.wg.Wait()
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
