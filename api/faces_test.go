package api_test

import (
	"bytes"
	"image"
	"image/draw"
	_ "image/jpeg"
	"image/png"
	"net/http"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/stoa-video/stoa/signaling"
)

// tinyFaces shrinks a group photo to 250 px wide: its faces are still found, at about 17×25 px.
func tinyFaces(t *testing.T, photo []byte) []byte {
	src, _, err := image.Decode(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, 250, b.Dy()*250/b.Dx()))
	xdraw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var out bytes.Buffer
	_ = png.Encode(&out, dst)
	return out.Bytes()
}

func TestFaceAPI(t *testing.T) {
	ts := newTestServer(t, withClaims(t))
	api := ts.http.URL + "/api/faces/"
	photo := testdata(t, "faces/people/sheldon/1.png")
	other := testdata(t, "faces/people/penny/1.png")

	status, out := post(t, api+"enroll?id=policy-1&name=Sheldon", "operator-key", photo)
	if status != http.StatusOK || out["id"] != "policy-1" || out["descriptors"] != float64(1) || out["faces"] != float64(1) {
		t.Fatalf("enroll: %d %v", status, out)
	}
	// Enrolling someone else into the same id without saying append or replace is refused
	// and leaves the entry as it was (finding 1 of issue 14).
	status, out = post(t, api+"enroll?id=policy-1&name=Mallory", "operator-key", other)
	if status != http.StatusConflict || out["code"] != signaling.CodePersonExists {
		t.Fatalf("enroll over an existing id: %d %v, want 409 person_exists", status, out)
	}
	status, out = post(t, api+"enroll?id=policy-1&mode=append", "operator-key", photo)
	if status != http.StatusOK || out["descriptors"] != float64(2) || out["name"] != "Sheldon" || out["mode"] != "append" {
		t.Fatalf("enroll with mode=append: %d %v", status, out)
	}
	status, out = post(t, api+"verify?id=policy-1", "operator-key", photo)
	if status != http.StatusOK || out["same"] != true || out["distance"].(float64) > 0.1 {
		t.Errorf("verify with the enrolled photo: %d %v", status, out)
	}
	status, out = post(t, api+"verify?id=policy-1", "operator-key", other)
	if status != http.StatusOK || out["same"] != false {
		t.Errorf("verify another person: %d %v", status, out)
	}
	status, out = post(t, api+"identify?k=3", "operator-key", photo)
	if m, _ := out["matches"].([]any); status != http.StatusOK || len(m) != 1 || m[0].(map[string]any)["id"] != "policy-1" {
		t.Errorf("identify: %d %v", status, out)
	}
	status, out = post(t, api+"detect", "operator-key", testdata(t, "faces/groups/bbt1.jpg"))
	if n, _ := out["faces"].(float64); status != http.StatusOK || n < 2 || len(out["all"].([]any)) != int(n) {
		t.Errorf("detect on a group photo: %d faces=%v", status, out["faces"])
	}
	face0, _ := out["face"].(map[string]any)
	if lm, _ := face0["landmarks"].([]any); len(lm) != 68 {
		t.Errorf("the largest face has %d landmarks, want 68", len(lm))
	}

	bad := []struct {
		name, url, key string
		body           []byte
		status         int
		code           string
	}{
		{"no face", api + "enroll?id=ghost", "operator-key", testdata(t, "faces/reference/white.png"), http.StatusUnprocessableEntity, signaling.CodeNoFace},
		{"face too small", api + "verify?id=policy-1", "operator-key", tinyFaces(t, testdata(t, "faces/groups/bbt1.jpg")), http.StatusUnprocessableEntity, signaling.CodeFaceTooSmall},
		{"corrupt image", api + "detect", "operator-key", []byte("\x89PNG\r\n\x1a\nthis is not a png"), http.StatusBadRequest, signaling.CodeBadImage},
		{"empty body", api + "detect", "operator-key", nil, http.StatusBadRequest, signaling.CodeBadImage},
		{"huge image", api + "detect", "operator-key", hugePNG(t), http.StatusRequestEntityTooLarge, signaling.CodeImageTooLarge},
		{"unknown person", api + "verify?id=nobody", "operator-key", photo, http.StatusNotFound, signaling.CodeUnknownPerson},
		{"verify without id", api + "verify", "operator-key", photo, http.StatusBadRequest, signaling.CodeBadRequest},
		{"no key", api + "detect", "", photo, http.StatusUnauthorized, signaling.CodeUnauthorized},
		{"participant token is not an operator key", api + "enroll?id=x", ts.token("r", "u", signaling.RoleHost), photo, http.StatusUnauthorized, signaling.CodeUnauthorized},
	}
	for _, b := range bad {
		status, out := post(t, b.url, b.key, b.body)
		if status != b.status || out["code"] != b.code {
			t.Errorf("%s: got %d %v, want %d %s", b.name, status, out, b.status, b.code)
		}
	}
	// Nothing was stored half-way by the failed enrollment.
	req, _ := http.NewRequest(http.MethodGet, api+"ghost", nil)
	req.Header.Set("Authorization", "Bearer operator-key")
	if status, out := doJSON(t, req); status != http.StatusNotFound || out["code"] != signaling.CodeUnknownPerson {
		t.Errorf("a failed enrollment left %d %v", status, out)
	}
	req, _ = http.NewRequest(http.MethodGet, strings.TrimSuffix(api, "/"), nil)
	req.Header.Set("Authorization", "Bearer operator-key")
	if status, out := doJSON(t, req); status != http.StatusOK || len(out["people"].([]any)) != 1 {
		t.Errorf("gallery list: %d %v", status, out)
	}
	req, _ = http.NewRequest(http.MethodDelete, api+"policy-1", nil)
	req.Header.Set("Authorization", "Bearer operator-key")
	if status, _ := doJSON(t, req); status != http.StatusOK {
		t.Errorf("delete: %d", status)
	}
}
