package api

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"

	"github.com/stoa-video/stoa/signaling"
)

// startJob takes a heavy-job slot, or answers 503 with Retry-After.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, err := s.jobs.Acquire(r.Context())
	if err != nil {
		busy(w, err)
		return nil, false
	}
	return release, true
}

// busy answers 503 busy for a job that found no slot (limit.ErrBusy) or
// whose request ended while it waited for one.
func busy(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "5")
	msg := "the server is busy with other image jobs: try again shortly"
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		msg = "the request ended while waiting for an image job slot"
	}
	signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeBusy, msg)
}

// bigImageSlot is DecodeImageWith's hook for uploads: an image above
// BigImagePixels (any image when always is set: OCR) waits for the one
// heavy slot before it is decoded. The slot is released by *held, which the
// handler defers.
func (s *Server) bigImageSlot(ctx context.Context, held *func(), always bool) func(w, h int) error {
	return func(w, h int) error {
		if !always && int64(w)*int64(h) <= int64(s.limits.BigImagePixels) {
			return nil
		}
		return s.heavySlot(ctx, held)
	}
}

// heavySlot takes the one slot that the memory-heavy work shares, decoding
// and analysing a big image or an OCR read (≈ 250 MB of tensors each), so a
// burst holds one of them in memory at a time; the jobs gate still lets
// light jobs (a snapshot's face check) run beside it. It sets *held to the
// release.
func (s *Server) heavySlot(ctx context.Context, held *func()) error {
	release, err := s.big.Acquire(ctx)
	if err != nil {
		return err // wraps limit.ErrBusy: writeImageError answers 503
	}
	// A heavy job leaves hundreds of MB of garbage (Go's and malloc's):
	// hand it back before the next heavy job starts, or the two add up.
	*held = func() { s.releaseMemory(); release() }
	return nil
}

// releaseMemory hands a burst's memory back to the OS once the last heavy
// job has ended: Go's heap, and what the OCR runtime freed to malloc.
func (s *Server) releaseMemory() {
	debug.FreeOSMemory()
	if s.opts.OCR != nil {
		s.opts.OCR.ReleaseMemory()
	}
}
