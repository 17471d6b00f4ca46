package face

import (
	"fmt"
	"image"
	"math"
	"slices"
)

// ssdNet is face-api's SsdMobilenetv1 face detector: MobileNet v1 (width 1.0) on a 512×512 input,
// SSD extra layers, six box predictors over 5118 anchors, then non-maximum suppression.
type ssdNet struct {
	conv0      *conv
	dw         [13]*depthwise
	pw         [13]*conv
	extra      [8]*conv
	predictors [6]*conv  // box encodings (4 per anchor) then class logits (3 per anchor), fused
	anchors    []float32 // 5118 × (ymin, xmin, ymax, xmax)
	pool       enginePool
}

const (
	ssdInput         = 512
	ssdAnchors       = 5118
	ssdMinConfidence = 0.5
	ssdIoU           = 0.5
	ssdMaxResults    = 100
)

// ssdAnchorsPerCell is the anchor count of each predictor, whose input is, in order: conv11
// (32×32), the last MobileNet layer (16×16), and extra layers 1, 3, 5, 7 (8×8 … 1×1).
var ssdAnchorsPerCell = [6]int{3, 6, 6, 6, 6, 6}

func newSSDNet(wm *weightMap) (*ssdNet, error) {
	l := &loader{wm: wm}
	n := &ssdNet{}
	n.conv0 = newConv(l.get("MobilenetV1/Conv2d_0_pointwise/weights", 3, 3, 3, 32),
		l.get("MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset", 32), 3, 3, 3, 32, 2, true, relu6)
	chans := [14]int{32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024}
	for i := 1; i <= 13; i++ {
		cin, cout := chans[i-1], chans[i]
		p := fmt.Sprintf("MobilenetV1/Conv2d_%d_depthwise/", i)
		w := l.get(p+"depthwise_weights", 3, 3, cin, 1)
		gamma := l.get(p+"BatchNorm/gamma", cin)
		beta := l.get(p+"BatchNorm/beta", cin)
		mean := l.get(p+"BatchNorm/moving_mean", cin)
		variance := l.get(p+"BatchNorm/moving_variance", cin)
		if l.err != nil {
			return nil, l.err
		}
		// Fold the batch norm into the filter: (x·w − mean)·s + beta with s = gamma/√(var+ε).
		d := &depthwise{k: 3, c: cin, stride: 1, w: make([]float32, len(w)), bias: make([]float32, cin), clamp: relu6}
		if i == 2 || i == 4 || i == 6 || i == 12 {
			d.stride = 2
		}
		for c := 0; c < cin; c++ {
			s := float64(gamma[c]) / math.Sqrt(float64(variance[c])+0.0010000000474974513)
			d.bias[c] = float32(float64(beta[c]) - float64(mean[c])*s)
			for k := 0; k < 9; k++ {
				d.w[k*cin+c] = float32(float64(w[k*cin+c]) * s)
			}
		}
		n.dw[i-1] = d
		p = fmt.Sprintf("MobilenetV1/Conv2d_%d_pointwise/", i)
		n.pw[i-1] = newConv(l.get(p+"weights", 1, 1, cin, cout), l.get(p+"convolution_bn_offset", cout),
			1, 1, cin, cout, 1, true, relu6)
	}
	extraShapes := [8][3]int{{1, 1024, 256}, {3, 256, 512}, {1, 512, 128}, {3, 128, 256},
		{1, 256, 128}, {3, 128, 256}, {1, 256, 64}, {3, 64, 128}}
	for i, s := range extraShapes {
		p := fmt.Sprintf("Prediction/Conv2d_%d_pointwise/", i)
		n.extra[i] = newConv(l.get(p+"weights", s[0], s[0], s[1], s[2]), l.get(p+"convolution_bn_offset", s[2]),
			s[0], s[0], s[1], s[2], 1+i%2, true, relu6)
	}
	predIn := [6]int{512, 1024, 512, 256, 256, 128}
	for i, cin := range predIn {
		a := ssdAnchorsPerCell[i]
		p := fmt.Sprintf("Prediction/BoxPredictor_%d/", i)
		bw := l.get(p+"BoxEncodingPredictor/weights", 1, 1, cin, 4*a)
		bb := l.get(p+"BoxEncodingPredictor/biases", 4*a)
		cw := l.get(p+"ClassPredictor/weights", 1, 1, cin, 3*a)
		cb := l.get(p+"ClassPredictor/biases", 3*a)
		if l.err != nil {
			return nil, l.err
		}
		cout := 7 * a
		w := make([]float32, cin*cout)
		for k := 0; k < cin; k++ {
			copy(w[k*cout:], bw[k*4*a:(k+1)*4*a])
			copy(w[k*cout+4*a:], cw[k*3*a:(k+1)*3*a])
		}
		n.predictors[i] = newConv(w, append(slices.Clone(bb), cb...), 1, 1, cin, cout, 1, true, noClamp)
	}
	n.anchors = l.get("Output/extra_dim", 1, ssdAnchors, 4)
	return n, l.err
}

// forward returns every face found in src, in src's pixels.
func (n *ssdNet) forward(wp *workerPool, src *rgb) []Detection {
	e := n.pool.get(wp)
	defer n.pool.put(e)
	x := e.newTensor(ssdInput, ssdInput, 3)
	src.squareInput(x.d, ssdInput, false)
	for i := range x.d {
		x.d[i] = x.d[i]/127.5 - 1
	}
	out := n.conv0.forward(e, x)
	e.release(x)
	var conv11 tensor
	for i := range n.dw {
		t := n.dw[i].forward(e, out)
		if i != 11 { // the input of pair 12 is conv11, which a predictor reads later
			e.release(out)
		}
		out = n.pw[i].forward(e, t)
		e.release(t)
		if i == 10 {
			conv11 = out
		}
	}
	feats := [6]tensor{conv11, out}
	y := out
	for i, l := range n.extra {
		z := l.forward(e, y)
		if i%2 == 1 { // extra layers 1, 3, 5, 7 feed predictors 2…5; the even ones are scratch
			e.release(y)
			feats[2+i/2] = z
		}
		y = z
	}

	// Decode the anchors as face-api's outputLayer and keep the confident ones.
	boxes := e.get(ssdAnchors * 4)
	scores := e.get(ssdAnchors)
	idx := 0
	for i, f := range feats {
		p := n.predictors[i].forward(e, f)
		a := ssdAnchorsPerCell[i]
		for cell := 0; cell < f.h*f.w; cell++ {
			row := p.d[cell*7*a : (cell+1)*7*a]
			for k := 0; k < a; k++ {
				enc := row[4*k : 4*k+4]
				an := n.anchors[4*idx : 4*idx+4]
				ah, aw := an[2]-an[0], an[3]-an[1]
				cy, cx := an[0]+ah/2, an[1]+aw/2
				hh := float32(math.Exp(float64(enc[2]/5))) * ah / 2
				hw := float32(math.Exp(float64(enc[3]/5))) * aw / 2
				my := enc[0]/10*ah + cy
				mx := enc[1]/10*aw + cx
				copy(boxes[4*idx:], []float32{my - hh, mx - hw, my + hh, mx + hw})
				scores[idx] = float32(1 / (1 + math.Exp(-float64(row[4*a+3*k+1]))))
				idx++
			}
		}
		e.release(p)
		e.release(f)
	}
	keep := nonMaxSuppression(boxes, scores, ssdMaxResults, ssdIoU, ssdMinConfidence)

	// Boxes are fractions of the padded square: rescale to the image as face-api's locateFaces.
	scale := float64(ssdInput) / float64(max(src.w, src.h))
	padX := float64(ssdInput) / math.Round(float64(src.w)*scale)
	padY := float64(ssdInput) / math.Round(float64(src.h)*scale)
	dets := make([]Detection, 0, len(keep))
	for _, i := range keep {
		b := boxes[4*i : 4*i+4]
		top := math.Max(0, float64(b[0])) * padY
		bottom := math.Min(1, float64(b[2])) * padY
		left := math.Max(0, float64(b[1])) * padX
		right := math.Min(1, float64(b[3])) * padX
		dets = append(dets, Detection{
			Box:   Box{X: left * float64(src.w), Y: top * float64(src.h), W: (right - left) * float64(src.w), H: (bottom - top) * float64(src.h)},
			Score: float64(scores[i]),
		})
	}
	e.put(boxes)
	e.put(scores)
	return dets
}

// nonMaxSuppression is face-api's: visit candidates above minScore by falling score, keep one
// unless it overlaps an already kept box by more than maxIoU.
func nonMaxSuppression(boxes, scores []float32, maxResults int, maxIoU, minScore float64) []int {
	var cand []int
	for i, s := range scores {
		if float64(s) > minScore {
			cand = append(cand, i)
		}
	}
	slices.SortStableFunc(cand, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	var keep []int
	for _, c := range cand {
		if len(keep) >= maxResults {
			break
		}
		ok := true
		for _, k := range keep {
			if iou(boxes[4*c:4*c+4], boxes[4*k:4*k+4]) > maxIoU {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, c)
		}
	}
	return keep
}

func iou(a, b []float32) float64 {
	ay0, ax0 := math.Min(float64(a[0]), float64(a[2])), math.Min(float64(a[1]), float64(a[3]))
	ay1, ax1 := math.Max(float64(a[0]), float64(a[2])), math.Max(float64(a[1]), float64(a[3]))
	by0, bx0 := math.Min(float64(b[0]), float64(b[2])), math.Min(float64(b[1]), float64(b[3]))
	by1, bx1 := math.Max(float64(b[0]), float64(b[2])), math.Max(float64(b[1]), float64(b[3]))
	areaA := (ay1 - ay0) * (ax1 - ax0)
	areaB := (by1 - by0) * (bx1 - bx0)
	if areaA <= 0 || areaB <= 0 {
		return 0
	}
	ih := math.Max(math.Min(ay1, by1)-math.Max(ay0, by0), 0)
	iw := math.Max(math.Min(ax1, bx1)-math.Max(ax0, bx0), 0)
	inter := ih * iw
	return inter / (areaA + areaB - inter)
}

// Detect finds faces with SSD MobileNet v1 (confidence ≥ 0.5, overlaps above IoU 0.5
// suppressed, at most 100), boxes in img's coordinates, most confident first.
func (m *Models) Detect(img image.Image) ([]Detection, error) {
	if err := checkSize(img); err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, nil
	}
	dets := m.detector.forward(m.workers, toRGB(img, b))
	for i := range dets {
		dets[i].Box.X += float64(b.Min.X)
		dets[i].Box.Y += float64(b.Min.Y)
	}
	return dets, nil
}
