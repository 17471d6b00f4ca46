package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stoa-video/stoa/api"
	"github.com/stoa-video/stoa/face"
	"github.com/stoa-video/stoa/ocr"
)

const faceUsage = `usage:
  stoa face detect [--json] IMG               faces, boxes and landmarks
  stoa face verify [--json] [--threshold T] IMG1 IMG2
                                              distance and verdict (same person when distance < T, default 0.6)
  stoa face enroll --id ID [--name NAME] [--mode new|append|replace] IMG
                                              add a person to the gallery (an existing id needs append or replace)
  stoa face identify [--json] [--k N] IMG     the gallery's nearest people
common flags: --models-dir DIR (default <repo>/.cache/models/face), --data-dir DIR (gallery, default stoa-data)
`

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// faceCmd runs `stoa face ...`.
func faceCmd(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, faceUsage)
		return nil
	}
	action := args[0]
	fs := flag.NewFlagSet("stoa face "+action, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "machine-readable output")
	threshold := fs.Float64("threshold", face.DefaultThreshold, "verify threshold")
	id := fs.String("id", "", "person id (enroll)")
	name := fs.String("name", "", "person name (enroll)")
	mode := fs.String("mode", "new", "enroll into an id already enrolled: new (refuse), append or replace")
	k := fs.Int("k", 5, "how many matches (identify)")
	modelsDir := fs.String("models-dir", face.DefaultModelDir(), "face weights")
	dataDir := fs.String("data-dir", "stoa-data", "where the gallery lives")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, faceUsage)
	}
	want := map[string]int{"detect": 1, "verify": 2, "enroll": 1, "identify": 1}
	n, ok := want[action]
	if !ok {
		return fmt.Errorf("unknown face command %q\n%s", action, faceUsage)
	}
	if fs.NArg() != n {
		return fmt.Errorf("stoa face %s takes %d image(s)\n%s", action, n, faceUsage)
	}
	models, err := face.LoadModels(*modelsDir)
	if err != nil {
		return err
	}
	defer models.Close()
	var faces [][]face.Face
	for _, path := range fs.Args() {
		f, err := analyseFile(models, path)
		if err != nil {
			return err
		}
		faces = append(faces, f)
	}
	counts := make([]int, len(faces))
	for i, f := range faces {
		counts[i] = len(f)
	}
	switch action {
	case "detect":
		if *asJSON {
			type jf struct {
				Box       face.Box     `json:"box"`
				Score     float64      `json:"score"`
				Landmarks []face.Point `json:"landmarks"`
			}
			list := []jf{}
			for _, f := range faces[0] {
				list = append(list, jf{f.Detection.Box, f.Detection.Score, f.Landmarks[:]})
			}
			return printJSON(out, map[string]any{"faces": list})
		}
		for i, f := range faces[0] {
			b := f.Detection.Box
			fmt.Fprintf(out, "face %d: x=%.0f y=%.0f w=%.0f h=%.0f score=%.2f\n", i+1, b.X, b.Y, b.W, b.H, f.Detection.Score)
		}
		return nil
	case "verify":
		d := face.Distance(faces[0][0].Descriptor, faces[1][0].Descriptor)
		same := d < *threshold
		if *asJSON {
			return printJSON(out, map[string]any{"distance": d, "same": same, "threshold": *threshold, "faces": counts})
		}
		verdict := "different people"
		if same {
			verdict = "same person"
		}
		fmt.Fprintf(out, "distance %.4f: %s (threshold %.2f; faces found: %d and %d)\n", d, verdict, *threshold, counts[0], counts[1])
		return nil
	}
	unlock, err := lockDataDir(*dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := face.OpenGallery(filepath.Join(*dataDir, "faces.db"))
	if err != nil {
		return err
	}
	defer g.Close()
	d := faces[0][0].Descriptor
	if action == "enroll" {
		photo, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		m, err := face.ParseEnrollMode(*mode)
		if err != nil {
			return err
		}
		p, _, err := g.Enroll(face.Person{ID: *id, Name: *name, Descriptors: [][128]float32{d}, Photo: photo}, m)
		if errors.Is(err, face.ErrPersonExists) {
			return fmt.Errorf("%w: pass --mode append to add this face to it, or --mode replace", err)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(out, map[string]any{"id": p.ID, "name": p.Name, "descriptors": len(p.Descriptors), "faces": counts[0]})
		}
		fmt.Fprintf(out, "enrolled %s (%d descriptor(s))\n", p.ID, len(p.Descriptors))
		return nil
	}
	matches, err := g.Identify(d, *k)
	if err != nil {
		return err
	}
	if *asJSON {
		if matches == nil {
			matches = []face.Match{}
		}
		return printJSON(out, map[string]any{"matches": matches, "faces": counts[0]})
	}
	if len(matches) == 0 {
		fmt.Fprintln(out, "the gallery is empty")
	}
	for _, m := range matches {
		mark := ""
		if m.Distance < face.DefaultThreshold {
			mark = "  <- same person"
		}
		fmt.Fprintf(out, "%-20s %.4f%s\n", m.ID, m.Distance, mark)
	}
	return nil
}

func analyseFile(models *face.Models, path string) ([]face.Face, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := api.DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	faces, err := models.Analyze(img)
	if err == nil && len(faces) == 0 {
		err = face.ErrNoFace
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return faces, nil
}

// ocrCmd runs `stoa ocr [--kind KIND] [--json] IMG`.
func ocrCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("stoa ocr", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kind := fs.String("kind", "text", "text or a document kind: "+strings.Join(ocr.Kinds, ", "))
	asJSON := fs.Bool("json", false, `machine-readable output: {"lines": [{"text", "score", "box"}], "fields": {...}}`)
	modelsDir := fs.String("models-dir", ocr.DefaultModelDir(), "OCR models and ONNX Runtime")
	usage := "usage: stoa ocr [--kind " + strings.Join(ocr.Kinds, "|") + "] [--json] [--models-dir DIR] IMG"
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, usage)
			return nil
		}
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if fs.NArg() != 1 {
		return errors.New(usage)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := api.DecodeImage(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	if _, err := ocr.ReadFields(*kind, nil); err != nil {
		return err
	}
	eng, err := ocr.NewEngine(ocr.Options{ModelDir: *modelsDir})
	if err != nil {
		return err
	}
	defer eng.Close()
	lines, err := eng.Read(context.Background(), img)
	if err != nil {
		return err
	}
	res, err := ocr.ReadFields(*kind, lines)
	if err != nil {
		return err
	}
	if *asJSON {
		if res.Lines == nil {
			res.Lines = []ocr.Line{}
		}
		if res.Fields == nil {
			res.Fields = map[string]ocr.Field{}
		}
		return printJSON(out, map[string]any{"kind": res.Kind, "lines": res.Lines, "fields": res.Fields, "valid": res.Valid})
	}
	if *kind == "text" {
		for _, l := range lines {
			fmt.Fprintln(out, l.Text)
		}
		return nil
	}
	names := make([]string, 0, len(res.Fields))
	for n := range res.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fl := res.Fields[n]
		mark := "ok"
		if !fl.Valid {
			mark = "INVALID " + fl.Reason
		}
		fmt.Fprintf(out, "%-18s %-30s %.2f %s\n", n, fl.Value, fl.Confidence, mark)
	}
	fmt.Fprintf(out, "%s: valid=%v\n", res.Kind, res.Valid)
	return nil
}
