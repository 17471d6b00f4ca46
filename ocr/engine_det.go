package ocr

import (
	"fmt"
	"math"
	"slices"
)

// Detection post-processing constants: PaddleOCR's DBPostProcess defaults for
// PP-OCRv4 (det_db_thresh, det_db_box_thresh, det_db_unclip_ratio, max_candidates,
// min_size).
const (
	detThresh        = 0.3
	detBoxThresh     = 0.6
	detUnclipRatio   = 1.5
	detMaxCandidates = 1000
	detMinSize       = 3
)

// Detection normalisation. PaddleOCR reads images with cv2.imread, so its
// pipelines see BGR: the det config decodes with img_mode BGR, then NormalizeImage
// applies the ImageNet mean/std (listed in R,G,B order) plane by plane, so
// mean[0]=0.485 goes to the blue plane, and predict_det.py feeds the planes in
// that order; the classifier and recognizer also get BGR planes. We reproduce
// exactly that, mismatched labels and all, because the weights were trained on
// it. Checked empirically on the rendered test set (engine_test.go, including
// red-on-blue, white-on-navy and colour-noise variants): BGR and RGB order give
// the same text, mean line scores within 0.01 of each other, BGR ahead on the
// noisy images; so the trained order stays.
var (
	detMean = [3]float32{0.485, 0.456, 0.406}
	detStd  = [3]float32{0.229, 0.224, 0.225}
)

// detect finds text boxes in src: resize so the longer side is at most maxSide,
// round both sides to multiples of 32, run the DB model, then turn its
// probability map into boxes in src coordinates.
func (e *Engine) detect(src *bgr) ([]quad, error) {
	ratio := 1.0
	if m := max(src.w, src.h); m > e.maxSide {
		ratio = float64(e.maxSide) / float64(m)
	}
	// PaddleOCR's DetResizeForTest: int() then Python's round() to a multiple of 32.
	rw := max(int(math.RoundToEven(float64(int(float64(src.w)*ratio))/32))*32, 32)
	rh := max(int(math.RoundToEven(float64(int(float64(src.h)*ratio))/32))*32, 32)
	in := src.resize(rw, rh)
	var scale, bias [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * detStd[c])
		bias[c] = -detMean[c] / detStd[c]
	}
	x := make([]float32, 3*rw*rh)
	fillCHW(x, rw, rh, in, scale, bias)
	prob, shape, err := e.det.run([]int64{1, 3, int64(rh), int64(rw)}, x)
	if err != nil {
		return nil, err
	}
	if len(shape) != 4 || shape[2] != int64(rh) || shape[3] != int64(rw) {
		return nil, fmt.Errorf("detection output shape %v, want [1 1 %d %d]", shape, rh, rw)
	}
	return boxesFromMap(prob, rw, rh, src.w, src.h), nil
}

// boxesFromMap is DB post-processing (PaddleOCR's boxes_from_bitmap, score_mode
// "fast"): threshold the probability map, take each 8-connected region, fit its
// minimum-area rectangle, keep it if its mean probability is high enough, grow it
// by the unclip offset and scale it to the source image.
func boxesFromMap(prob []float32, w, h, srcW, srcH int) []quad {
	seen := make([]bool, w*h)
	var (
		stack, comp []int32
		rowMin      = make([]int, h)
		rowMax      = make([]int, h)
		hullIn      []pt
		boxes       []quad
		candidates  int
	)
	sx, sy := float64(srcW)/float64(w), float64(srcH)/float64(h)
	for start := range prob {
		if seen[start] || prob[start] <= detThresh {
			continue
		}
		if candidates++; candidates > detMaxCandidates {
			break
		}
		// Flood fill the region, 8-connected like OpenCV's outer contours.
		comp, stack = comp[:0], append(stack[:0], int32(start))
		seen[start] = true
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			comp = append(comp, p)
			px, py := int(p)%w, int(p)/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := px+dx, py+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					if n := ny*w + nx; !seen[n] && prob[n] > detThresh {
						seen[n] = true
						stack = append(stack, int32(n))
					}
				}
			}
		}
		// The convex hull only needs each row's leftmost and rightmost pixel.
		y0, y1 := h, -1
		for _, p := range comp {
			y0, y1 = min(y0, int(p)/w), max(y1, int(p)/w)
		}
		for y := y0; y <= y1; y++ {
			rowMin[y], rowMax[y] = w, -1
		}
		for _, p := range comp {
			px, py := int(p)%w, int(p)/w
			rowMin[py] = min(rowMin[py], px)
			rowMax[py] = max(rowMax[py], px)
		}
		hullIn = hullIn[:0]
		for y := y0; y <= y1; y++ {
			if rowMax[y] >= 0 {
				hullIn = append(hullIn, pt{float64(rowMin[y]), float64(y)}, pt{float64(rowMax[y]), float64(y)})
			}
		}
		box, bw, bh := minAreaRect(convexHull(hullIn))
		if min(bw, bh) < detMinSize {
			continue
		}
		if boxScore(prob, w, h, box) < detBoxThresh {
			continue
		}
		box, bw, bh = unclip(box, bw, bh, detUnclipRatio)
		if min(bw, bh) < detMinSize+2 {
			continue
		}
		box = orderQuad(box)
		for k := range box {
			box[k].x = math.Min(math.Max(math.Round(box[k].x*sx), 0), float64(srcW-1))
			box[k].y = math.Min(math.Max(math.Round(box[k].y*sy), 0), float64(srcH-1))
		}
		if int(dist(box[0], box[1])) <= 3 || int(dist(box[0], box[3])) <= 3 {
			continue
		}
		boxes = append(boxes, box)
	}
	return boxes
}

// convexHull returns the convex hull of ps counter-clockwise (in image axes),
// without collinear points (Andrew's monotone chain). It reorders ps.
func convexHull(ps []pt) []pt {
	slices.SortFunc(ps, func(a, b pt) int {
		if a.x != b.x {
			return cmpFloat(a.x, b.x)
		}
		return cmpFloat(a.y, b.y)
	})
	ps = slices.CompactFunc(ps, func(a, b pt) bool { return a == b })
	if len(ps) < 3 {
		return ps
	}
	cross := func(o, a, b pt) float64 { return (a.x-o.x)*(b.y-o.y) - (a.y-o.y)*(b.x-o.x) }
	hull := make([]pt, 0, 2*len(ps))
	for _, p := range ps {
		for len(hull) >= 2 && cross(hull[len(hull)-2], hull[len(hull)-1], p) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, p)
	}
	lower := len(hull) + 1
	for i := len(ps) - 2; i >= 0; i-- {
		for len(hull) >= lower && cross(hull[len(hull)-2], hull[len(hull)-1], ps[i]) <= 0 {
			hull = hull[:len(hull)-1]
		}
		hull = append(hull, ps[i])
	}
	return hull[:len(hull)-1]
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// minAreaRect returns the smallest-area rectangle around a convex hull (one of its
// sides lies on a hull edge: rotating calipers, checked edge by edge) as
// TL,TR,BR,BL corners plus its side lengths along and across that edge.
func minAreaRect(hull []pt) (quad, float64, float64) {
	if len(hull) < 3 {
		var q quad
		for i := range q {
			q[i] = hull[min(i, len(hull)-1)]
		}
		if len(hull) == 2 {
			return orderQuad(quad{hull[0], hull[1], hull[1], hull[0]}), dist(hull[0], hull[1]), 0
		}
		return q, 0, 0
	}
	best := math.Inf(1)
	var out quad
	var ow, oh float64
	for i := range hull {
		a, b := hull[i], hull[(i+1)%len(hull)]
		l := dist(a, b)
		if l == 0 {
			continue
		}
		ux, uy := (b.x-a.x)/l, (b.y-a.y)/l
		minU, maxU, minN, maxN := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range hull {
			u := p.x*ux + p.y*uy
			n := -p.x*uy + p.y*ux
			minU, maxU = math.Min(minU, u), math.Max(maxU, u)
			minN, maxN = math.Min(minN, n), math.Max(maxN, n)
		}
		if area := (maxU - minU) * (maxN - minN); area < best-1e-9 {
			best = area
			corner := func(u, n float64) pt { return pt{u*ux - n*uy, u*uy + n*ux} }
			out = quad{corner(minU, minN), corner(maxU, minN), corner(maxU, maxN), corner(minU, maxN)}
			ow, oh = maxU-minU, maxN-minN
		}
	}
	return orderQuad(out), ow, oh
}

// orderQuad orders a rectangle's corners as PaddleOCR's get_mini_boxes does: the
// two leftmost are top-left and bottom-left (by y), the other two top-right and
// bottom-right.
func orderQuad(q quad) quad {
	ps := q
	slices.SortStableFunc(ps[:], func(a, b pt) int { return cmpFloat(a.x, b.x) })
	tl, bl := ps[0], ps[1]
	if ps[1].y < ps[0].y {
		tl, bl = ps[1], ps[0]
	}
	tr, br := ps[2], ps[3]
	if ps[3].y < ps[2].y {
		tr, br = ps[3], ps[2]
	}
	return quad{tl, tr, br, bl}
}

// boxScore is the mean probability of the map pixels inside q (box_score_fast).
func boxScore(prob []float32, w, h int, q quad) float64 {
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range q {
		x0, x1 = math.Min(x0, p.x), math.Max(x1, p.x)
		y0, y1 = math.Min(y0, p.y), math.Max(y1, p.y)
	}
	xa, xb := max(int(math.Floor(x0)), 0), min(int(math.Ceil(x1)), w-1)
	ya, yb := max(int(math.Floor(y0)), 0), min(int(math.Ceil(y1)), h-1)
	var sum float64
	var n int
	for y := ya; y <= yb; y++ {
		for x := xa; x <= xb; x++ {
			if inQuad(q, pt{float64(x), float64(y)}) {
				sum += float64(prob[y*w+x])
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// inQuad reports whether p lies inside or on the convex quadrilateral q.
func inQuad(q quad, p pt) bool {
	var pos, neg bool
	for i := range q {
		a, b := q[i], q[(i+1)%4]
		c := (b.x-a.x)*(p.y-a.y) - (b.y-a.y)*(p.x-a.x)
		pos = pos || c > 1e-9
		neg = neg || c < -1e-9
	}
	return !(pos && neg)
}

// unclip grows the rectangle q (sides bw along TL→TR, bh across) outward by
// area*ratio/perimeter on every side. That is what PaddleOCR's pyclipper offset
// followed by a new minimum-area rectangle gives for a rectangle: the rounded
// corners of the offset polygon lie inside the grown rectangle.
func unclip(q quad, bw, bh, ratio float64) (quad, float64, float64) {
	if bw+bh == 0 {
		return q, bw, bh
	}
	d := bw * bh * ratio / (2 * (bw + bh))
	ux, uy := q[1].x-q[0].x, q[1].y-q[0].y
	if l := math.Hypot(ux, uy); l > 0 {
		ux, uy = ux/l, uy/l
	} else {
		ux, uy = 1, 0
	}
	vx, vy := -uy, ux // points from the top edge towards the bottom one in image axes
	if (q[3].x-q[0].x)*vx+(q[3].y-q[0].y)*vy < 0 {
		vx, vy = -vx, -vy
	}
	grow := func(p pt, su, sv float64) pt { return pt{p.x + d*(su*ux+sv*vx), p.y + d*(su*uy+sv*vy)} }
	return quad{grow(q[0], -1, -1), grow(q[1], 1, -1), grow(q[2], 1, 1), grow(q[3], -1, 1)}, bw + 2*d, bh + 2*d
}

// sortBoxes puts boxes in reading order: by top edge, then left to right among
// boxes on one row, a row being boxes whose vertical centres are less than half a
// line height apart (PaddleOCR's sorted_boxes, with its fixed 10 px made relative
// to the text size).
func sortBoxes(boxes []quad) {
	slices.SortStableFunc(boxes, func(a, b quad) int {
		if c := cmpFloat(a[0].y, b[0].y); c != 0 {
			return c
		}
		return cmpFloat(a[0].x, b[0].x)
	})
	centre := func(q quad) float64 { return (q[0].y + q[1].y + q[2].y + q[3].y) / 4 }
	height := func(q quad) float64 { return (dist(q[0], q[3]) + dist(q[1], q[2])) / 2 }
	for i := 0; i < len(boxes)-1; i++ {
		for j := i; j >= 0; j-- {
			a, b := boxes[j], boxes[j+1]
			sameRow := math.Abs(centre(a)-centre(b)) < 0.5*math.Min(height(a), height(b))
			if !sameRow || b[0].x >= a[0].x {
				break
			}
			boxes[j], boxes[j+1] = b, a
		}
	}
}
