package api

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/stoa-video/stoa/recorder"
)

// verifyResult answers GET /api/recordings/{id}/files/{file}/verify.
// Status is "verified" (OK), "altered" (the file or its manifest does not
// match: Cluster names the first cluster that differs, -1 when the
// difference is not in one cluster) or "unsigned" (there is no manifest yet,
// e.g. while the part is being recorded, so nothing could be checked).
type verifyResult struct {
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Cluster int    `json:"cluster"`
	Reason  string `json:"reason,omitempty"`
}

// serveRecordingVerify re-hashes a part and checks it against its signed
// manifest and the server's public key (recorder.Verify), as
// `stoa recordings verify` does, for the playback page's verified / altered.
func (s *Server) serveRecordingVerify(w http.ResponseWriter, r *http.Request) {
	info, name, path, ok := s.recordingFile(w, r, false)
	if !ok {
		return
	}
	key := s.opts.Recordings.PublicKey()
	if key == nil {
		writeJSON(w, http.StatusOK, verifyResult{Status: "unsigned", Cluster: -1, Reason: "manifests are not signed on this server"})
		return
	}
	res, err := recorder.Verify(path, key)
	switch {
	case errors.Is(err, fs.ErrNotExist) && info.State == "recording":
		writeJSON(w, http.StatusOK, verifyResult{Status: "unsigned", Cluster: -1, Reason: "still recording: the manifest is signed when the recording stops"})
	case errors.Is(err, fs.ErrNotExist):
		writeJSON(w, http.StatusOK, verifyResult{Status: "altered", Cluster: -1, Reason: "the file or its manifest is missing"})
	case err != nil:
		s.opts.Logger.Warn("verify recording", "id", info.ID, "file", name, "err", err)
		writeJSON(w, http.StatusOK, verifyResult{Status: "altered", Cluster: -1, Reason: "could not be checked: " + err.Error()})
	case res.OK:
		writeJSON(w, http.StatusOK, verifyResult{OK: true, Status: "verified", Cluster: res.Cluster, Reason: res.Reason})
	default:
		writeJSON(w, http.StatusOK, verifyResult{Status: "altered", Cluster: res.Cluster, Reason: res.Reason})
	}
}
