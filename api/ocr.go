package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/stoa-video/stoa/ocr"
	"github.com/stoa-video/stoa/signaling"
)

// serveOCR reads text (or a document's fields, ?kind=...) from an uploaded
// image (POST /api/ocr) or a live snapshot (POST /api/rooms/{room}/participants/{uid}/ocr).
func (s *Server) serveOCR(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.claimAccess(w, r); !ok {
		return
	}
	kind := r.URL.Query().Get("kind")
	if kind == "" {
		kind = "text"
	}
	if !slices.Contains(ocr.Kinds, kind) {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeUnsupportedKind, "kind must be one of "+strings.Join(ocr.Kinds, ", "))
		return
	}
	if s.opts.OCR == nil {
		msg := "OCR models are not installed: run `make models` (ocr/install-models.sh) and restart"
		if s.opts.OCRErr != nil {
			msg += " (" + s.opts.OCRErr.Error() + ")"
		}
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeModelsMissing, msg)
		return
	}
	img, live, done, ok := s.imageJob(w, r, true)
	if !ok {
		return
	}
	defer done()
	lines, err := s.opts.OCR.Read(r.Context(), img)
	if err != nil {
		if errors.Is(err, ocr.ErrImageTooLarge) {
			signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodeImageTooLarge, err.Error())
			return
		}
		s.log.Error("ocr failed", "err", err)
		signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
		return
	}
	res, err := ocr.ReadFields(kind, lines)
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeUnsupportedKind, err.Error())
		return
	}
	if res.Lines == nil {
		res.Lines = []ocr.Line{}
	}
	out := map[string]any{"kind": res.Kind, "lines": res.Lines, "fields": res.Fields, "valid": res.Valid,
		"width": img.Bounds().Dx(), "height": img.Bounds().Dy()}
	if len(lines) == 0 {
		out["warning"] = signaling.CodeNoText
	}
	if live {
		out["image"] = jpegDataURL(img)
	}
	writeJSON(w, http.StatusOK, out)
}
