package api

import (
	"errors"
	"fmt"
	"image"
	"net/http"
	"strconv"

	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/signaling"
)

// MinFaceSize is the smallest face (box side, pixels) that verify, enroll
// and identify accept: the descriptor net sees faces as 150×150 crops, and one
// enlarged from fewer than 20 pixels says more about the blur than the person.
const MinFaceSize = 20

// faceJSON is one analysed face as the API returns it.
type faceJSON struct {
	Box       face.Box     `json:"box"`
	Score     float64      `json:"score"`
	Landmarks []face.Point `json:"landmarks"`
}

func toFaceJSON(f face.Face) faceJSON {
	return faceJSON{Box: f.Detection.Box, Score: f.Detection.Score, Landmarks: f.Landmarks[:]}
}

// faceReady answers 503 with how to install the weights when they are missing.
func (s *Server) faceReady(w http.ResponseWriter) bool {
	if s.opts.Faces == nil || s.opts.Gallery == nil {
		msg := "face models are not installed: run `make models` (face/install-models.sh) and restart"
		if s.opts.FacesErr != nil {
			msg += " (" + s.opts.FacesErr.Error() + ")"
		}
		signaling.WriteHTTPError(w, http.StatusServiceUnavailable, signaling.CodeModelsMissing, msg)
		return false
	}
	return true
}

// imageJob takes a job slot and then the request's image (claimImage); done
// releases both.
func (s *Server) imageJob(w http.ResponseWriter, r *http.Request, heavy bool) (img image.Image, live bool, done func(), ok bool) {
	release, ok := s.startJob(w, r)
	if !ok {
		return nil, false, nil, false
	}
	img, live, held, ok := s.claimImage(w, r, heavy)
	if !ok {
		release()
		return nil, false, nil, false
	}
	return img, live, func() { held(); release() }, true
}

// claimImage is the image a face or OCR request works on: a live snapshot
// for /api/rooms/{room}/participants/{uid}/..., an upload for /api/faces/...
// and /api/ocr. The caller has admitted the request and holds a job slot;
// done releases the heavy slot taken for a big upload, or for any image
// when heavy is set (OCR).
func (s *Server) claimImage(w http.ResponseWriter, r *http.Request, heavy bool) (img image.Image, live bool, done func(), ok bool) {
	held := func() {}
	if r.PathValue("room") != "" {
		img, ok := s.participantImage(w, r)
		if ok && heavy {
			if err := s.heavySlot(r.Context(), &held); err != nil {
				busy(w, err)
				return nil, true, nil, false
			}
		}
		return img, true, held, ok
	}
	img, err := uploadedImage(r, s.bigImageSlot(r.Context(), &held, heavy))
	if err != nil {
		held()
		writeImageError(w, err)
		return nil, false, nil, false
	}
	return img, false, held, true
}

// analyse finds the faces of img, largest first; it answers the error itself.
func (s *Server) analyse(w http.ResponseWriter, img image.Image) ([]face.Face, bool) {
	faces, err := s.opts.Faces.Analyze(img)
	switch {
	case errors.Is(err, face.ErrNoFace) || (err == nil && len(faces) == 0):
		signaling.WriteHTTPError(w, http.StatusUnprocessableEntity, signaling.CodeNoFace, "no face found in the image")
		return nil, false
	case errors.Is(err, face.ErrImageTooLarge):
		signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodeImageTooLarge, err.Error())
		return nil, false
	case err != nil:
		s.log.Error("face analysis failed", "err", err)
		signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
		return nil, false
	}
	return faces, true
}

// serveFace handles detect, verify, enroll and identify, on an upload or a live snapshot.
func (s *Server) serveFace(w http.ResponseWriter, r *http.Request) {
	who, ok := s.claimAccess(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	q := r.URL.Query()
	id, name := q.Get("id"), q.Get("name")
	if (action == "verify" || action == "enroll") && id == "" {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, action+" needs ?id=PERSON")
		return
	}
	if action != "detect" && action != "verify" && action != "enroll" && action != "identify" {
		signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeBadRequest, "unknown face action "+quote(action))
		return
	}
	mode, err := face.ParseEnrollMode(q.Get("mode"))
	if err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, err.Error())
		return
	}
	if err := face.CheckName(name); err != nil {
		signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, err.Error())
		return
	}
	if !s.faceReady(w) {
		return
	}
	img, live, done, ok := s.imageJob(w, r, false)
	if !ok {
		return
	}
	defer done()
	faces, ok := s.analyse(w, img)
	if !ok {
		return
	}
	out := map[string]any{"faces": len(faces), "face": toFaceJSON(faces[0])}
	if live {
		out["image"] = jpegDataURL(img)
	}
	if action == "detect" {
		all := make([]faceJSON, len(faces))
		for i, f := range faces {
			all[i] = toFaceJSON(f)
		}
		out["all"] = all
		writeJSON(w, http.StatusOK, out)
		return
	}
	if b := faces[0].Detection.Box; b.W < MinFaceSize || b.H < MinFaceSize {
		signaling.WriteHTTPError(w, http.StatusUnprocessableEntity, signaling.CodeFaceTooSmall, fmt.Sprintf(
			"the largest face is %.0f×%.0f px, below %d px: too small to %s reliably; ask the customer to come closer", b.W, b.H, MinFaceSize, action))
		return
	}
	d := faces[0].Descriptor
	switch action {
	case "verify":
		threshold := face.DefaultThreshold
		if v, err := strconv.ParseFloat(r.URL.Query().Get("threshold"), 64); err == nil && v > 0 && v < 2 {
			threshold = v
		}
		m, same, err := s.opts.Gallery.Verify(id, d, threshold)
		if errors.Is(err, face.ErrUnknownPerson) {
			signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeUnknownPerson, err.Error())
			return
		}
		if err != nil {
			signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
			return
		}
		out["id"], out["name"], out["distance"], out["same"], out["threshold"] = m.ID, m.Name, m.Distance, same, threshold
	case "enroll":
		var photo []byte
		if b, err := encodeJPEG(img); err == nil {
			photo = b
		}
		p, existed, err := s.opts.Gallery.Enroll(face.Person{ID: id, Name: name, Descriptors: [][128]float32{d}, Photo: photo}, mode)
		switch {
		case errors.Is(err, face.ErrPersonExists):
			s.log.Warn("face enroll refused: the id is already enrolled", "by", who, "id", truncate(id, 128), "mode", mode)
			signaling.WriteHTTPError(w, http.StatusConflict, signaling.CodePersonExists, quote(id)+
				" is already enrolled: enroll with mode=append to add this face to it, or mode=replace to start it again")
			return
		case errors.Is(err, face.ErrBadPersonID), errors.Is(err, face.ErrBadName):
			signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadRequest, err.Error())
			return
		case err != nil:
			signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
			return
		}
		s.log.Info("face enrolled", "by", who, "id", truncate(id, 128), "mode", mode, "existed", existed, "live", live)
		out["id"], out["name"], out["descriptors"], out["mode"] = p.ID, p.Name, len(p.Descriptors), mode
	case "identify":
		k, _ := strconv.Atoi(r.URL.Query().Get("k"))
		if k <= 0 || k > 100 {
			k = 5
		}
		matches, err := s.opts.Gallery.Identify(d, k)
		if err != nil {
			signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
			return
		}
		if matches == nil {
			matches = []face.Match{}
		}
		out["matches"] = matches
	}
	writeJSON(w, http.StatusOK, out)
}

// servePeople lists, shows (GET /api/faces/{id}, with ?photo=1 the JPEG) and deletes enrolled people.
func (s *Server) servePeople(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Gate.RequireOperator(w, r) || !s.faceReady(w) {
		return
	}
	id := r.PathValue("id")
	switch {
	case id == "":
		people, err := s.opts.Gallery.List()
		if err != nil {
			signaling.WriteHTTPError(w, http.StatusInternalServerError, signaling.CodeInternal, err.Error())
			return
		}
		type summary struct {
			ID          string `json:"id"`
			Name        string `json:"name,omitempty"`
			Descriptors int    `json:"descriptors"`
			Enrolled    string `json:"enrolled"`
		}
		list := make([]summary, 0, len(people))
		for _, p := range people {
			list = append(list, summary{p.ID, p.Name, len(p.Descriptors), p.Enrolled.Format("2006-01-02T15:04:05Z")})
		}
		writeJSON(w, http.StatusOK, map[string]any{"people": list})
	case r.Method == http.MethodDelete:
		if err := s.opts.Gallery.Delete(id); err != nil {
			signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeUnknownPerson, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
	default:
		p, err := s.opts.Gallery.Get(id)
		if err != nil {
			signaling.WriteHTTPError(w, http.StatusNotFound, signaling.CodeUnknownPerson, err.Error())
			return
		}
		if r.URL.Query().Get("photo") != "" {
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(p.Photo)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "name": p.Name, "descriptors": len(p.Descriptors), "enrolled": p.Enrolled})
	}
}
