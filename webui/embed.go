// Package webui serves the browser side of Stoa from the binary: the customer's
// call page, the agent's console, and the SDK (sdk/stoa.js and the modules it
// imports beside it) both pages and customer apps import. The files are plain
// HTML, CSS and ES modules with no build step, so what is in this directory is
// exactly what browsers get.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html call.html console.html calls.html recordings.html sdk static
var files embed.FS

// sdkDir is where apps import the SDK from: /sdk/stoa.js, which imports the other
// modules of the directory by relative URL.
const sdkDir = "/sdk/"

// pages maps the extensionless page routes to their files.
var pages = map[string]string{
	"/":              "index.html",
	"/call":          "call.html",
	"/console":       "console.html",
	"/console/calls": "calls.html",
	"/recordings":    "recordings.html",
}

// asset is one file ready to serve: its bytes, content type and a strong ETag,
// so `Cache-Control: no-cache` costs a revalidation, not a download.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets is built once from the embedded files, keyed by URL path.
var assets = buildAssets()

func buildAssets() map[string]asset {
	m := make(map[string]asset)
	add := func(urlPath, name string) {
		body, err := files.ReadFile(name)
		if err != nil {
			panic("webui: embedded file missing: " + name) // the embed pattern above guarantees it
		}
		sum := sha256.Sum256(body)
		m[urlPath] = asset{body: body, contentType: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	for route, name := range pages {
		add(route, name)
	}
	for _, dir := range []string{"sdk", "static"} {
		err := fs.WalkDir(files, dir, func(name string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				add("/"+name, name)
			}
			return err
		})
		if err != nil {
			panic("webui: walk embedded " + dir + " files: " + err.Error())
		}
	}
	return m
}

// contentType names the type of an embedded file. JavaScript is text/javascript
// (RFC 9239), which module scripts require; the rest follows the extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Handler serves GET and HEAD for / (the index), /call, /console, /console/calls (the call records),
// /recordings, /sdk/... (stoa.js
// and its modules) and /static/...; every other path is 404. Responses carry
// `Cache-Control: no-cache` so a new binary's pages and SDK are picked up at
// once, and the SDK may be imported from any origin.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", a.etag)
		if strings.HasPrefix(r.URL.Path, sdkDir) {
			// Apps on their own origin import the SDK from the Stoa server; module scripts, stoa.js and
			// every module it imports, need CORS.
			h.Set("Access-Control-Allow-Origin", "*")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
