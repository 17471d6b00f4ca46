package ocr

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// The engine tests run the real models on text rendered by ImageMagick with the
// Noto CJK fonts. Both are installed here when missing (apt-get, models through
// install-models.sh): a machine that cannot install them fails these tests, it
// does not skip them.

const testFont = "Noto-Sans-CJK-SC"

var (
	toolsOnce sync.Once
	toolsErr  error
	convert   string

	engineOnce sync.Once
	engineErr  error
	testEng    *Engine
)

// ensureTools makes sure ImageMagick's convert and the Noto CJK fonts exist,
// installing the Debian packages if they do not.
func ensureTools(tb testing.TB) string {
	tb.Helper()
	toolsOnce.Do(func() {
		have := func() bool {
			// /usr/bin/convert is ImageMagick's; a convert elsewhere on PATH may be a stand-in.
			out, err := exec.Command("/usr/bin/convert", "-list", "font").Output()
			return err == nil && strings.Contains(string(out), "Font: "+testFont)
		}
		if !have() {
			var sudo []string
			if os.Geteuid() != 0 {
				sudo = []string{"sudo"}
			}
			for _, args := range [][]string{
				{"apt-get", "update", "-qq"},
				{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "imagemagick", "fonts-noto-cjk"},
			} {
				args = append(sudo, args...)
				if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
					toolsErr = fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
					return
				}
			}
			if !have() {
				toolsErr = errors.New("imagemagick and fonts-noto-cjk installed, but convert does not list " + testFont)
				return
			}
		}
		convert = "/usr/bin/convert"
	})
	if toolsErr != nil {
		tb.Fatalf("OCR tests need ImageMagick and fonts-noto-cjk: %v", toolsErr)
	}
	return convert
}

// sharedEngine returns one Engine for the whole test binary, installing the
// models with install-models.sh first when they are missing or wrong.
func sharedEngine(tb testing.TB) *Engine {
	tb.Helper()
	engineOnce.Do(func() { testEng, engineErr = newTestEngine() })
	if engineErr != nil {
		tb.Fatalf("OCR engine: %v", engineErr)
	}
	return testEng
}

func newTestEngine() (*Engine, error) {
	dir := DefaultModelDir()
	e, err := NewEngine(Options{ModelDir: dir})
	if errors.Is(err, ErrModelsMissing) || errors.Is(err, ErrModelMismatch) {
		out, ierr := exec.Command("bash", "install-models.sh", dir).CombinedOutput()
		if ierr != nil {
			return nil, fmt.Errorf("install-models.sh %s: %w\n%s", dir, ierr, out)
		}
		e, err = NewEngine(Options{ModelDir: dir})
	}
	return e, err
}

// render runs convert with args, writing to a file named name in a temporary
// folder, and decodes the result.
func render(tb testing.TB, name string, args ...string) image.Image {
	tb.Helper()
	bin := ensureTools(tb)
	path := filepath.Join(tb.TempDir(), name)
	if out, err := exec.Command(bin, append(args, path)...).CombinedOutput(); err != nil {
		tb.Fatalf("convert %q: %v\n%s", args, err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// label renders one line of text, 40 px, with a margin, then applies the
// variant's ImageMagick operators. A variant starting with "colours:" gives the
// background and text colours first: "colours:", bg, fg.
func label(tb testing.TB, text string, variant []string, ext string) image.Image {
	tb.Helper()
	bg, fg := "white", "black"
	if len(variant) >= 3 && variant[0] == "colours:" {
		bg, fg, variant = variant[1], variant[2], variant[3:]
	}
	args := []string{"-background", bg, "-fill", fg, "-font", testFont, "-pointsize", "40",
		"label:" + text, "-bordercolor", bg, "-border", "30x30"}
	return render(tb, "line."+ext, append(args, variant...)...)
}

// cer is the character error rate of got against want: edit distance over runes,
// divided by want's length, ignoring white space (the recognizer's spaces between
// Chinese and Latin text are not what these tests are about).
func cer(want, got string) float64 {
	strip := func(s string) []rune {
		var rs []rune
		for _, r := range s {
			if !unicode.IsSpace(r) {
				rs = append(rs, r)
			}
		}
		return rs
	}
	a, b := strip(want), strip(got)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(b)]) / float64(max(len(a), 1))
}

func joined(lines []Line) string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Text)
	}
	return strings.Join(s, " ")
}

var engineTexts = []string{
	"姓名 张三 Name 123456",
	"中华人民共和国居民身份证",
	"保险理赔 Claim No. 2026-0042",
	"车牌号 沪A12345 日期 2026年3月15日",
	"Policy holder: Li Wei, Tel 13812345678",
}

// TestEngineCER reads each text line in clean and degraded renderings and checks
// the character error rate per group.
func TestEngineCER(t *testing.T) {
	e := sharedEngine(t)
	variants := []struct {
		name     string
		ops      []string
		ext      string
		degraded bool
	}{
		{"normal", nil, "png", false},
		{"jpeg60", []string{"-quality", "60"}, "jpg", false},
		// About 18 px text: 40 pt renders ~40 px tall glyph boxes.
		{"small", []string{"-resize", "45%"}, "png", true},
		{"lowres", []string{"-resize", "45%", "-resize", "222%"}, "png", true},
		{"rot+3", []string{"-background", "white", "-rotate", "3"}, "png", true},
		{"rot-3", []string{"-background", "white", "-rotate", "-3"}, "png", true},
		{"upside-down", []string{"-rotate", "180"}, "png", true}, // the direction classifier's job
		{"small-jpeg60", []string{"-resize", "45%", "-quality", "60"}, "jpg", true},
		{"red-on-blue", []string{"colours:", "#dbe9f7", "#b22222"}, "png", false},
		{"white-on-navy", []string{"colours:", "navy", "white"}, "png", false},
		{"tiny", []string{"-resize", "25%"}, "png", true},
		// About 8 px text, where the first errors appear (to show the thresholds bite).
		{"8px", []string{"-resize", "20%"}, "png", true},
		{"small-jpeg10", []string{"-resize", "35%", "-quality", "10"}, "jpg", true},
		{"blur", []string{"-blur", "0x3"}, "png", true},
		{"noise", []string{"-attenuate", "2", "+noise", "Gaussian"}, "png", true},
		{"grey-lowres-jpeg", []string{"colours:", "#c8c8c8", "#505050", "-resize", "40%", "-quality", "50"}, "jpg", true},
	}
	var sum [2]float64
	var n [2]int
	for _, v := range variants {
		for i, text := range engineTexts {
			img := label(t, text, v.ops, v.ext)
			lines, err := e.Read(context.Background(), img)
			if err != nil {
				t.Fatalf("%s %d: %v", v.name, i, err)
			}
			got := joined(lines)
			c := cer(text, got)
			var sc float32
			for _, l := range lines {
				sc += l.Score / float32(len(lines))
			}
			t.Logf("%-12s CER %.3f score %.4f %q -> %q", v.name, c, sc, text, got)
			g := 0
			if v.degraded {
				g = 1
			}
			sum[g] += c
			n[g]++
		}
	}
	clean, degraded := sum[0]/float64(n[0]), sum[1]/float64(n[1])
	t.Logf("overall CER: clean %.4f over %d images, degraded %.4f over %d images", clean, n[0], degraded, n[1])
	if clean > 0.05 {
		t.Errorf("clean CER %.4f > 0.05", clean)
	}
	if degraded > 0.15 {
		t.Errorf("degraded CER %.4f > 0.15", degraded)
	}
}

// documentImage renders a page-like image: several lines at different heights
// and a two-column row, in the order Read must return them.
func documentImage(tb testing.TB, w, h, pt int) (image.Image, []string) {
	tb.Helper()
	want := []string{"机动车保险理赔申请书", "报案号 2026-0042", "出险地点 上海市", "Claim amount 12800 元", "Signature 李伟"}
	step := pt * 2
	args := []string{"-size", fmt.Sprintf("%dx%d", w, h), "xc:white", "-font", testFont, "-fill", "black",
		"-pointsize", fmt.Sprint(pt + pt/2), "-annotate", fmt.Sprintf("+%d+%d", pt, step), want[0],
		"-pointsize", fmt.Sprint(pt),
		"-annotate", fmt.Sprintf("+%d+%d", pt, 2*step), want[1],
		"-annotate", fmt.Sprintf("+%d+%d", w/2+pt, 2*step), want[2],
		"-annotate", fmt.Sprintf("+%d+%d", pt, 3*step), want[3],
		"-annotate", fmt.Sprintf("+%d+%d", pt, 4*step), want[4],
	}
	return render(tb, "doc.png", args...), want
}

// TestEngineReadingOrder checks that a page's lines come back top to bottom and
// left to right within a row, each as its own Line with a box around its text.
func TestEngineReadingOrder(t *testing.T) {
	e := sharedEngine(t)
	img, want := documentImage(t, 1000, 560, 36)
	lines, err := e.Read(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		t.Logf("%.3f %v %q", l.Score, l.Box, l.Text)
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		if c := cer(want[i], l.Text); c > 0.1 {
			t.Errorf("line %d: %q, want %q (CER %.2f)", i, l.Text, want[i], c)
		}
		b := l.Box
		if !(b[0].X < b[1].X && b[3].X < b[2].X && b[0].Y < b[3].Y && b[1].Y < b[2].Y) {
			t.Errorf("line %d: box %v not ordered TL,TR,BR,BL", i, b)
		}
		if l.Score < 0.5 || l.Score > 1 {
			t.Errorf("line %d: score %v", i, l.Score)
		}
	}
}

// TestEngineEdgeImages covers images without text and sizes Read must refuse.
func TestEngineEdgeImages(t *testing.T) {
	e := sharedEngine(t)
	white := image.NewRGBA(image.Rect(0, 0, 800, 600))
	draw.Draw(white, white.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	one := image.NewGray(image.Rect(0, 0, 1, 1))
	offset := image.NewGray(image.Rect(100, 100, 300, 180)) // non-zero origin, black
	tests := []struct {
		name    string
		img     image.Image
		wantErr error
	}{
		{"blank white", white, nil},
		{"1x1", one, nil},
		{"offset black", offset, nil},
		{"zero size", image.NewGray(image.Rect(0, 0, 0, 10)), ErrEmptyImage},
		{"48 MP", image.NewGray(image.Rect(0, 0, 8000, 6000)), ErrImageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := e.Read(context.Background(), tt.img)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && (lines == nil || len(lines) != 0) {
				t.Fatalf("lines %v, want empty non-nil slice", lines)
			}
		})
	}
}

// TestEngineConcurrentRead has 4 goroutines read different images through one
// Engine at once; each must get what a lone Read gets.
func TestEngineConcurrentRead(t *testing.T) {
	e := sharedEngine(t)
	imgs := make([]image.Image, 4)
	want := make([]string, 4)
	for i := range imgs {
		imgs[i] = label(t, engineTexts[i], nil, "png")
		lines, err := e.Read(context.Background(), imgs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = joined(lines)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(imgs))
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				lines, err := e.Read(context.Background(), imgs[i])
				if err != nil {
					errs <- err
					return
				}
				if got := joined(lines); got != want[i] {
					errs <- fmt.Errorf("goroutine %d: %q, want %q", i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestEngineContextCancelled checks that a cancelled context stops Read.
func TestEngineContextCancelled(t *testing.T) {
	e := sharedEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Read(ctx, image.NewGray(image.Rect(0, 0, 64, 64))); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// TestEngineModelFiles checks that NewEngine refuses a missing or altered model.
func TestEngineModelFiles(t *testing.T) {
	sharedEngine(t) // the models are installed
	real := DefaultModelDir()
	altered := t.TempDir()
	for name := range modelSHA256 {
		if name == keysFile {
			continue
		}
		if err := os.Symlink(filepath.Join(real, name), filepath.Join(altered, name)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := os.ReadFile(filepath.Join(real, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(altered, keysFile), append(keys, 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		want error
	}{
		{"missing", t.TempDir(), ErrModelsMissing},
		{"altered", altered, ErrModelMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewEngine(Options{ModelDir: tt.dir}); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// TestEngineClose checks that Close is idempotent and Read afterwards fails.
func TestEngineClose(t *testing.T) {
	sharedEngine(t)
	e, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Read(context.Background(), image.NewGray(image.Rect(0, 0, 8, 8))); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}
