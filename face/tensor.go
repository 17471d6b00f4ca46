package face

import (
	"math"
	"slices"
)

// tensor is one image's activations in HWC order (channels innermost, as TensorFlow keeps them),
// so a 1×1 convolution is a plain matrix product over the pixels.
type tensor struct {
	h, w, c int
	d       []float32
}

// rowPad is the height of the matmul micro-kernel: every activation buffer has room for its
// pixel count rounded up to it, so the kernel never needs a ragged last block.
const rowPad = 12

func roundUp(n, m int) int { return (n + m - 1) / m * m }

var (
	noClamp = [2]float32{float32(math.Inf(-1)), float32(math.Inf(1))}
	relu    = [2]float32{0, float32(math.Inf(1))}
	relu6   = [2]float32{0, 6}
)

// arena hands out float32 buffers and takes them back. A forward pass asks for the same sizes in
// the same order every time, so after the first pass every request is served from the free list.
type arena struct {
	free [][]float32
}

func (a *arena) get(n int) []float32 {
	best := -1
	for i, b := range a.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(a.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := a.free[best]
	a.free = slices.Delete(a.free, best, best+1)
	return b[:n]
}

func (a *arena) put(b []float32) {
	if cap(b) > 0 {
		a.free = append(a.free, b)
	}
}

// newTensor returns an h×w×c tensor with stale contents; the caller overwrites all of it.
func (a *arena) newTensor(h, w, c int) tensor {
	d := a.get(roundUp(h*w, rowPad) * c)
	return tensor{h: h, w: w, c: c, d: d[:h*w*c]}
}

func (a *arena) release(t tensor) { a.put(t.d) }

// conv is a 2-D convolution with bias and a clamp (none, ReLU or ReLU6) fused in. Weights are
// packed at load time into panels of 16 output channels: panel p holds, for every k of the
// kh·kw·cin reduction, the 16 weights of channels 16p…16p+15 side by side.
type conv struct {
	kh, kw, cin, cout int
	stride            int
	same              bool // TensorFlow 'same' padding, else 'valid'
	packed            []float32
	bias              []float32 // padded to a multiple of 16
	clamp             [2]float32
}

// newConv packs HWIO filters (TensorFlow's layout) of shape kh×kw×cin×cout.
func newConv(filters, bias []float32, kh, kw, cin, cout, stride int, same bool, clamp [2]float32) *conv {
	k := kh * kw * cin
	np := (cout + 15) / 16
	l := &conv{kh: kh, kw: kw, cin: cin, cout: cout, stride: stride, same: same, clamp: clamp,
		packed: make([]float32, np*k*16), bias: make([]float32, np*16)}
	for i := 0; i < k; i++ {
		for o := 0; o < cout; o++ {
			l.packed[(o/16)*k*16+i*16+o%16] = filters[i*cout+o]
		}
	}
	copy(l.bias, bias)
	return l
}

// outSize returns the output length and the padding before the first input, as TensorFlow
// computes them: 'same' gives ceil(in/stride) and puts the odd padding pixel after.
func outSize(in, k, stride int, same bool) (out, padBefore int) {
	if !same {
		return (in-k)/stride + 1, 0
	}
	out = (in + stride - 1) / stride
	return out, max((out-1)*stride+k-in, 0) / 2
}

func (l *conv) forward(e *engine, x tensor) tensor {
	oh, pt := outSize(x.h, l.kh, l.stride, l.same)
	ow, pl := outSize(x.w, l.kw, l.stride, l.same)
	out := e.newTensor(oh, ow, l.cout)
	m := oh * ow
	k := l.kh * l.kw * l.cin
	if l.kh == 1 && l.kw == 1 && l.stride == 1 {
		e.gemm(x.d[:cap(x.d)], m, k, l, out.d[:cap(out.d)])
		return out
	}
	col := e.get(roundUp(m, rowPad) * k)
	im2col(x, col, l, oh, ow, pt, pl)
	e.gemm(col, m, k, l, out.d[:cap(out.d)])
	e.put(col)
	return out
}

// im2col lays out, for every output pixel, the kh×kw×cin input patch it reads (zeros where the
// patch hangs over the border), so the convolution becomes one matrix product.
func im2col(x tensor, col []float32, l *conv, oh, ow, pt, pl int) {
	c := x.c
	i := 0
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			for ky := 0; ky < l.kh; ky++ {
				iy := oy*l.stride + ky - pt
				if iy < 0 || iy >= x.h {
					clear(col[i : i+l.kw*c])
					i += l.kw * c
					continue
				}
				row := x.d[iy*x.w*c:]
				for kx := 0; kx < l.kw; kx++ {
					ix := ox*l.stride + kx - pl
					if ix < 0 || ix >= x.w {
						clear(col[i : i+c])
					} else {
						copy(col[i:i+c], row[ix*c:ix*c+c])
					}
					i += c
				}
			}
		}
	}
}

// depthwise is a depthwise convolution ('same' padding, channel multiplier 1) with a per-channel
// bias and a clamp fused in.
type depthwise struct {
	k, c, stride int
	w            []float32 // k×k×c
	bias         []float32 // c
	clamp        [2]float32
}

func (l *depthwise) forward(e *engine, x tensor) tensor {
	oh, _ := outSize(x.h, l.k, l.stride, true)
	ow, _ := outSize(x.w, l.k, l.stride, true)
	out := e.newTensor(oh, ow, l.c)
	e.dw = dwCall{l: l, x: x, out: out}
	e.parallel(&e.dw, oh, oh*ow*l.c*l.k*l.k)
	return out
}

type dwCall struct {
	l      *depthwise
	x, out tensor
}

// part computes output rows [lo, hi).
func (d *dwCall) part(lo, hi int) {
	l, x, out := d.l, d.x, d.out
	c, s := l.c, l.stride
	_, pt := outSize(x.h, l.k, s, true)
	_, pl := outSize(x.w, l.k, s, true)
	for oy := lo; oy < hi; oy++ {
		row := out.d[oy*out.w*c : (oy+1)*out.w*c]
		for ox := 0; ox < out.w; ox++ {
			copy(row[ox*c:ox*c+c], l.bias)
		}
		for ky := 0; ky < l.k; ky++ {
			iy := oy*s + ky - pt
			if iy < 0 || iy >= x.h {
				continue
			}
			in := x.d[iy*x.w*c : (iy+1)*x.w*c]
			wrow := l.w[ky*l.k*c : (ky+1)*l.k*c]
			// Output columns whose input column ox*s+kx-pl is inside the image, for tap kx.
			first := func(kx int) int { return max(0, -floorDiv(kx-pl, s)) }
			last := func(kx int) int { return min(out.w-1, floorDiv(x.w-1+pl-kx, s)) }
			lo3, hi3 := 0, -1 // columns where all taps are inside: done three taps at a time
			if l.k == 3 {
				lo3, hi3 = first(0), last(2)
				if hi3 >= lo3 {
					ix := lo3*s - pl
					dwAcc3Row(row[lo3*c:(hi3+1)*c], in[ix*c:], wrow, hi3-lo3+1, c, s*c)
				}
			}
			for kx := 0; kx < l.k; kx++ {
				f, t := first(kx), last(kx)
				for f <= t { // the columns of [f, t] outside [lo3, hi3], in at most two runs
					end := t
					if f < lo3 {
						end = min(t, lo3-1)
					} else if f <= hi3 {
						f = hi3 + 1
						continue
					}
					ix := f*s + kx - pl
					dwAccRow(row[f*c:(end+1)*c], in[ix*c:], wrow[kx*c:(kx+1)*c], end-f+1, c, s*c)
					f = end + 1
				}
			}
		}
		clampVec(row, l.clamp[0], l.clamp[1])
	}
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// gemmCall is one matrix product C = clamp(A·B + bias), split by rows or by panels of columns.
type gemmCall struct {
	a        []float32
	m, k     int
	l        *conv
	c        []float32
	byPanels bool
}

func (e *engine) gemm(a []float32, m, k int, l *conv, c []float32) {
	mp := roundUp(m, rowPad)
	if len(a) < (mp-1)*k+k || len(c) < mp*l.cout {
		panic("face: gemm buffers too short")
	}
	np := len(l.bias) / 16
	e.gc = gemmCall{a: a, m: mp, k: k, l: l, c: c}
	units := mp / rowPad
	if units < 4*e.workers() && np >= units {
		e.gc.byPanels = true
		units = np
	}
	e.parallel(&e.gc, units, m*k*l.cout)
}

func (g *gemmCall) part(lo, hi int) {
	l, k := g.l, g.k
	np := len(l.bias) / 16
	r0, r1, p0, p1 := 0, g.m, 0, np
	if g.byPanels {
		p0, p1 = lo, hi
	} else {
		r0, r1 = lo*rowPad, hi*rowPad
	}
	// Rows are taken in chunks whose A block stays in L2 while every panel of B streams past it.
	mc := max(rowPad, (24576/k)/rowPad*rowPad)
	var tail [rowPad * 16]float32
	for c0 := r0; c0 < r1; c0 += mc {
		c1 := min(c0+mc, r1)
		for p := p0; p < p1; p++ {
			b := l.packed[p*k*16 : (p+1)*k*16]
			bias := l.bias[p*16 : p*16+16]
			cols := min(16, l.cout-p*16)
			for r := c0; r < c1; r += rowPad {
				a := g.a[r*k:]
				if cols == 16 {
					kernel12x16(a, k, b, k, g.c[r*l.cout+p*16:], l.cout, bias, l.clamp[0], l.clamp[1])
					continue
				}
				kernel12x16(a, k, b, k, tail[:], 16, bias, l.clamp[0], l.clamp[1])
				for i := 0; i < rowPad; i++ {
					copy(g.c[(r+i)*l.cout+p*16:(r+i)*l.cout+p*16+cols], tail[i*16:i*16+cols])
				}
			}
		}
	}
}

// add sets dst = a + b elementwise (all the same shape).
func add(dst, a, b []float32) {
	b = b[:len(a)]
	dst = dst[:len(a)]
	for i := range a {
		dst[i] = a[i] + b[i]
	}
}

// reluTo sets dst = max(src, 0).
func reluTo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = max(v, 0)
	}
}

// maxPool is a k×k max pool with stride s and 'valid' padding.
func maxPool(e *engine, x tensor, k, s int) tensor {
	oh, ow := (x.h-k)/s+1, (x.w-k)/s+1
	out := e.newTensor(oh, ow, x.c)
	c := x.c
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := out.d[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			for i := range o {
				o[i] = float32(math.Inf(-1))
			}
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					in := x.d[((oy*s+ky)*x.w+ox*s+kx)*c:][:c]
					for i, v := range in {
						o[i] = max(o[i], v)
					}
				}
			}
		}
	}
	return out
}

// avgPool is a k×k average pool with stride s and 'valid' padding.
func avgPool(e *engine, x tensor, k, s int) tensor {
	oh, ow := (x.h-k)/s+1, (x.w-k)/s+1
	out := e.newTensor(oh, ow, x.c)
	c := x.c
	inv := 1 / float32(k*k)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := out.d[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
			clear(o)
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					in := x.d[((oy*s+ky)*x.w+ox*s+kx)*c:][:c]
					for i, v := range in {
						o[i] += v
					}
				}
			}
			for i := range o {
				o[i] *= inv
			}
		}
	}
	return out
}

// dense multiplies a vector by a conv-packed weight matrix (a fully connected layer).
func dense(e *engine, v []float32, l *conv) []float32 {
	a := e.get(rowPad * len(v))
	clear(a)
	copy(a, v)
	c := e.get(rowPad * l.cout)
	e.gemm(a, 1, len(v), l, c)
	e.put(a)
	return c[:l.cout]
}

// globalAvgPool averages each channel of x over all positions (the nets' last
// pooling before their dense layer) and releases x.
func globalAvgPool(e *engine, x tensor) []float32 {
	avg := e.get(x.c)
	clear(avg)
	for p := 0; p < x.h*x.w; p++ {
		for c, v := range x.d[p*x.c : (p+1)*x.c] {
			avg[c] += v
		}
	}
	for c := range avg {
		avg[c] /= float32(x.h * x.w)
	}
	e.release(x)
	return avg
}
