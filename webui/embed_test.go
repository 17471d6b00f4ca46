package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	tests := []struct {
		path        string
		contentType string
		contains    string
	}{
		{"/", "text/html; charset=utf-8", `href="/console`},
		{"/call", "text/html; charset=utf-8", `id="remote"`},
		{"/console", "text/html; charset=utf-8", `id="answer"`},
		{"/console/calls", "text/html; charset=utf-8", `id="calls-list"`},
		{"/static/calls.js", "text/javascript; charset=utf-8", "window.__records"},
		{"/sdk/stoa.js", "text/javascript; charset=utf-8", "export default Stoa"},
		{"/static/style.css", "text/css; charset=utf-8", ":root"},
		{"/static/page.js", "text/javascript; charset=utf-8", "window.__stoa"},
		{"/static/call.js", "text/javascript; charset=utf-8", "import"},
		{"/static/console.js", "text/javascript; charset=utf-8", "import"},
		{"/static/quality.js", "text/javascript; charset=utf-8", "export function watchAgentNetwork"},
		{"/sdk/quality.js", "text/javascript; charset=utf-8", "export class Pinger"},
		{"/sdk/stream.js", "text/javascript; charset=utf-8", "export class Stream"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestHandlerNotFound(t *testing.T) {
	for _, path := range []string{"/nope", "/call.html", "/console/", "/index.html", "/sdk/", "/sdk/other.js", "/static/", "/static/missing.js", "/ws"} {
		t.Run(path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != http.StatusNotFound {
				t.Errorf("GET %s: status %d, want 404", path, rec.Code)
			}
		})
	}
}

func TestHandlerMethodsAndRevalidation(t *testing.T) {
	h := Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/call", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /call: status %d, want 405", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/sdk/stoa.js", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /sdk/stoa.js: status %d with %d body bytes, want 200 and none", rec.Code, rec.Body.Len())
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("SDK Access-Control-Allow-Origin %q, want *", got)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	req := httptest.NewRequest(http.MethodGet, "/sdk/stoa.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("GET with a matching If-None-Match: status %d, want 304", rec.Code)
	}
}
