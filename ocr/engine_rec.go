package ocr

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Classifier and recognizer settings: PaddleOCR's defaults (cls_image_shape
// 3,48,192, cls_thresh 0.9, rec_image_shape 3,48,320, batch 6, drop_score 0.5).
const (
	clsH, clsW    = 48, 192
	clsThresh     = 0.9
	recH, recMinW = 48, 320
	// recMaxW bounds the recognizer's input width (a 100:1 line); longer crops are
	// squeezed rather than making one huge batch.
	recMaxW     = 4800
	batchSize   = 6
	recMinScore = 0.5
)

// Both the classifier and the recognizer take (v/255 - 0.5)/0.5 per channel, in
// the BGR order they were trained on (see detMean).
var (
	unitScale = [3]float32{2.0 / 255, 2.0 / 255, 2.0 / 255}
	unitBias  = [3]float32{-1, -1, -1}
)

// byAspect returns the indices of crops sorted by width/height, so that a batch
// holds crops of similar width and little padding.
func byAspect(crops []*bgr) []int {
	idx := make([]int, len(crops))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmpFloat(aspect(crops[a]), aspect(crops[b]))
	})
	return idx
}

func aspect(c *bgr) float64 { return float64(c.w) / float64(c.h) }

// scaledWidth is the width a crop gets at height hgt, at most maxW (PaddleOCR's
// resize_norm_img).
func scaledWidth(c *bgr, hgt, maxW int) int {
	return max(min(int(math.Ceil(float64(hgt)*aspect(c))), maxW), 1)
}

// orient turns upside-down crops the right way up: the 0/180° classifier runs on
// batches of crops resized to 48 px high and padded to 192 px wide, and a crop it
// calls 180° with more than 0.9 confidence is rotated.
func (e *Engine) orient(ctx context.Context, crops []*bgr) error {
	order := byAspect(crops)
	for lo := 0; lo < len(order); lo += batchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := order[lo:min(lo+batchSize, len(order))]
		plane := 3 * clsH * clsW
		x := make([]float32, len(batch)*plane)
		for k, i := range batch {
			in := crops[i].resize(scaledWidth(crops[i], clsH, clsW), clsH)
			fillCHW(x[k*plane:(k+1)*plane], clsW, clsH, in, unitScale, unitBias)
		}
		out, shape, err := e.cls.run([]int64{int64(len(batch)), 3, clsH, clsW}, x)
		if err != nil {
			return err
		}
		if len(shape) != 2 || shape[0] != int64(len(batch)) || shape[1] != 2 {
			return fmt.Errorf("classifier output shape %v, want [%d 2]", shape, len(batch))
		}
		for k, i := range batch {
			if p := out[2*k+1]; p > out[2*k] && p > clsThresh {
				crops[i].rotate180()
			}
		}
	}
	return nil
}

// recognized is one crop's decoded text and mean character confidence.
type recognized struct {
	text  string
	score float32
}

// recognize reads each crop: batches of crops of similar aspect are resized to
// 48 px high, padded with zeros to the widest (at least 320 px), run through the
// CTC recognizer, and decoded greedily. On a CPU the model's cost grows with
// batch size times padded width, so, unlike PaddleOCR's fixed batches of 6, a
// batch also ends where the next crop would widen it by more than a quarter.
func (e *Engine) recognize(ctx context.Context, crops []*bgr) ([]recognized, error) {
	res := make([]recognized, len(crops))
	order := byAspect(crops)
	width := func(i int) int { return min(max(scaledWidth(crops[i], recH, recMaxW), recMinW), recMaxW) }
	for lo := 0; lo < len(order); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := lo + 1
		for hi < len(order) && hi-lo < batchSize && 4*width(order[hi]) <= 5*width(order[lo]) {
			hi++
		}
		batch := order[lo:hi]
		lo = hi
		w := width(batch[len(batch)-1]) // sorted by aspect: the last is the widest
		plane := 3 * recH * w
		x := make([]float32, len(batch)*plane)
		for k, i := range batch {
			in := crops[i].resize(scaledWidth(crops[i], recH, w), recH)
			fillCHW(x[k*plane:(k+1)*plane], w, recH, in, unitScale, unitBias)
		}
		out, shape, err := e.rec.run([]int64{int64(len(batch)), 3, recH, int64(w)}, x)
		if err != nil {
			return nil, err
		}
		if len(shape) != 3 || shape[0] != int64(len(batch)) || shape[2] != int64(len(e.chars)) {
			return nil, fmt.Errorf("recognizer output shape %v, want [%d T %d]", shape, len(batch), len(e.chars))
		}
		steps, classes := int(shape[1]), int(shape[2])
		for k, i := range batch {
			res[i] = ctcDecode(out[k*steps*classes:(k+1)*steps*classes], steps, classes, e.chars)
		}
	}
	return res, nil
}

// ctcDecode is greedy CTC decoding of one [steps, classes] softmax output: the
// most likely class per step, repeats collapsed, blanks (class 0) dropped. The
// score is the mean probability of the kept characters (0 when none).
func ctcDecode(probs []float32, steps, classes int, chars []string) recognized {
	var sb strings.Builder
	var sum float32
	var n int
	prev := -1
	for t := 0; t < steps; t++ {
		row := probs[t*classes : (t+1)*classes]
		best, bp := 0, row[0]
		for c, p := range row {
			if p > bp {
				best, bp = c, p
			}
		}
		if best != 0 && best != prev {
			sb.WriteString(chars[best])
			sum += bp
			n++
		}
		prev = best
	}
	if n == 0 {
		return recognized{}
	}
	return recognized{text: strings.TrimSpace(sb.String()), score: sum / float32(n)}
}
