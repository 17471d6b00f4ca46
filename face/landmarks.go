package face

import (
	"fmt"
	"image"
	"math"
)

// landmarkNet is face-api's FaceLandmark68Net: four dense blocks of depthwise-separable
// convolutions on a 112×112 input, an average pool and a fully connected layer giving 68 (x, y)
// pairs relative to the input square.
type landmarkNet struct {
	blocks [4]denseBlock
	fc     *conv
	pool   enginePool
}

// denseBlock: out1 = relu(conv0(x)) (stride 2), then each next separable conv reads the ReLU of
// the sum of all outputs so far; the block gives relu(out1+out2+out3+out4).
type denseBlock struct {
	first *conv      // dense0 only: a plain 3×3/2 conv
	dw0   *depthwise // dense1…3: conv0 is separable, stride 2
	pw0   *conv
	dw    [3]*depthwise
	pw    [3]*conv
}

func newLandmarkNet(wm *weightMap) (*landmarkNet, error) {
	l := &loader{wm: wm}
	sep := func(prefix string, cin, cout, stride int, clamp [2]float32) (*depthwise, *conv) {
		d := &depthwise{k: 3, c: cin, stride: stride, w: l.get(prefix+"/depthwise_filter", 3, 3, cin, 1),
			bias: make([]float32, cin), clamp: noClamp}
		p := newConv(l.get(prefix+"/pointwise_filter", 1, 1, cin, cout), l.get(prefix+"/bias", cout),
			1, 1, cin, cout, 1, true, clamp)
		return d, p
	}
	n := &landmarkNet{}
	chans := [5]int{3, 32, 64, 128, 256}
	for i := range n.blocks {
		b := &n.blocks[i]
		prefix := fmt.Sprintf("dense%d", i)
		cin, c := chans[i], chans[i+1]
		if i == 0 {
			b.first = newConv(l.get(prefix+"/conv0/filters", 3, 3, cin, c), l.get(prefix+"/conv0/bias", c),
				3, 3, cin, c, 2, true, relu)
		} else {
			b.dw0, b.pw0 = sep(prefix+"/conv0", cin, c, 2, relu)
		}
		for j := range 3 {
			b.dw[j], b.pw[j] = sep(fmt.Sprintf("%s/conv%d", prefix, j+1), c, c, 1, noClamp)
		}
	}
	fc := l.get("fc/weights", 256, 136)
	fcb := l.get("fc/bias", 136)
	if l.err != nil {
		return nil, l.err
	}
	n.fc = newConv(fc, fcb, 1, 1, 256, 136, 1, true, noClamp)
	return n, nil
}

func (b *denseBlock) forward(e *engine, x tensor) tensor {
	var out1 tensor
	if b.first != nil {
		out1 = b.first.forward(e, x)
	} else {
		t := b.dw0.forward(e, x)
		out1 = b.pw0.forward(e, t)
		e.release(t)
	}
	sum := e.newTensor(out1.h, out1.w, out1.c)
	copy(sum.d, out1.d)
	in := out1 // relu(out1) already
	for j := range 3 {
		t := b.dw[j].forward(e, in)
		o := b.pw[j].forward(e, t)
		e.release(t)
		add(sum.d, sum.d, o.d)
		e.release(o)
		reluTo(in.d, sum.d) // in is out1's buffer, no longer needed as such: out1 lives on in sum
	}
	e.release(sum)
	return in
}

// forward returns the 68 points relative to src's width and height (0…1 inside the image).
func (n *landmarkNet) forward(wp *workerPool, src *rgb) [68]Point {
	e := n.pool.get(wp)
	defer n.pool.put(e)
	x := e.newTensor(112, 112, 3)
	src.squareInput(x.d, 112, true)
	for i := range x.d {
		x.d[i] = (x.d[i] - meanRGB[i%3]) / 255
	}
	for i := range n.blocks {
		y := n.blocks[i].forward(e, x)
		e.release(x)
		x = y
	}
	// A 7×7 average pool over the 7×7 map is the mean of each channel.
	avg := globalAvgPool(e, x)
	out := dense(e, avg, n.fc)

	// From the padded 112 square back to fractions of the image, as face-api's postProcess.
	scale := 112 / math.Max(float64(src.w), float64(src.h))
	w, h := float64(src.w)*scale, float64(src.h)*scale
	padX, padY := 0.0, 0.0
	if w < h {
		padX = (h - w) / 2
	} else {
		padY = (w - h) / 2
	}
	var pts [68]Point
	for i := range pts {
		pts[i] = Point{(float64(out[2*i])*112 - padX) / w, (float64(out[2*i+1])*112 - padY) / h}
	}
	e.put(avg)
	e.put(out[:cap(out)])
	return pts
}

// Landmarks finds the 68 landmarks of the face in box: the box is cut out of img (as face-api's
// extractFaces does: clipped to the image, corners floored) and given to the net. The box and
// the points are in img's coordinates.
func (m *Models) Landmarks(img image.Image, box Box) ([68]Point, error) {
	if err := checkSize(img); err != nil {
		return [68]Point{}, err
	}
	b := img.Bounds()
	r := clipBox(Box{box.X - float64(b.Min.X), box.Y - float64(b.Min.Y), box.W, box.H}, b.Dx(), b.Dy())
	if r.Empty() {
		return [68]Point{}, fmt.Errorf("landmarks of box %+v outside the image %v: %w", box, b, ErrNoFace)
	}
	return m.landmarksOf(toRGB(img, r.Add(b.Min)), r.Min.Add(b.Min)), nil
}

// landmarksOf runs the net on a face crop whose top-left corner is at origin in the image.
func (m *Models) landmarksOf(crop *rgb, origin image.Point) [68]Point {
	pts := m.landmarks.forward(m.workers, crop)
	for i := range pts {
		pts[i] = Point{pts[i].X*float64(crop.w) + float64(origin.X), pts[i].Y*float64(crop.h) + float64(origin.Y)}
	}
	return pts
}

// clipBox is face-api's Box.clipAtImageBorders: clip to the image, then floor every field.
func clipBox(b Box, w, h int) image.Rectangle {
	x, y := math.Max(b.X, 0), math.Max(b.Y, 0)
	bw := math.Min(b.X+b.W-x, float64(w)-x)
	bh := math.Min(b.Y+b.H-y, float64(h)-y)
	fx, fy := int(math.Floor(x)), int(math.Floor(y))
	return image.Rect(fx, fy, fx+int(math.Floor(bw)), fy+int(math.Floor(bh)))
}
