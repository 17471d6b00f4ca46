package face

import (
	"fmt"
	"image"
)

// recognitionNet is face-api's FaceRecognitionNet: dlib's ResNet-34-like face descriptor
// (150×150 RGB in, 128 floats out), with each convolution's scale layer folded into it.
type recognitionNet struct {
	down   *conv      // 7×7/2 'valid', 3→32
	blocks []resBlock // conv32_1 … conv256_down_out
	fc     *conv      // 256→128, no bias
	pool   enginePool
}

type resBlock struct {
	conv1, conv2 *conv
	down         bool // conv1 is 3×3/2 'valid' and the shortcut an average pool
}

var recognitionBlocks = []struct {
	name string
	cin  int
	cout int
	down bool
}{
	{"conv32_1", 32, 32, false}, {"conv32_2", 32, 32, false}, {"conv32_3", 32, 32, false},
	{"conv64_down", 32, 64, true}, {"conv64_1", 64, 64, false}, {"conv64_2", 64, 64, false}, {"conv64_3", 64, 64, false},
	{"conv128_down", 64, 128, true}, {"conv128_1", 128, 128, false}, {"conv128_2", 128, 128, false},
	{"conv256_down", 128, 256, true}, {"conv256_1", 256, 256, false}, {"conv256_2", 256, 256, false},
	{"conv256_down_out", 256, 256, true},
}

func newRecognitionNet(wm *weightMap) (*recognitionNet, error) {
	l := &loader{wm: wm}
	// convScaled loads prefix/conv and folds prefix/scale into it: (x*w+b)*s+t = x*(w*s) + (b*s+t).
	convScaled := func(prefix string, k, cin, cout, stride int, same bool, clamp [2]float32) *conv {
		f := l.get(prefix+"/conv/filters", k, k, cin, cout)
		b := l.get(prefix+"/conv/bias", cout)
		s := l.get(prefix+"/scale/weights", cout)
		t := l.get(prefix+"/scale/biases", cout)
		if l.err != nil {
			return nil
		}
		fs := make([]float32, len(f))
		for i := range f {
			fs[i] = f[i] * s[i%cout]
		}
		bs := make([]float32, cout)
		for o := range bs {
			bs[o] = b[o]*s[o] + t[o]
		}
		return newConv(fs, bs, k, k, cin, cout, stride, same, clamp)
	}
	n := &recognitionNet{down: convScaled("conv32_down", 7, 3, 32, 2, false, relu)}
	for _, b := range recognitionBlocks {
		stride, same := 1, true
		if b.down {
			stride, same = 2, false
		}
		n.blocks = append(n.blocks, resBlock{
			conv1: convScaled(b.name+"/conv1", 3, b.cin, b.cout, stride, same, relu),
			conv2: convScaled(b.name+"/conv2", 3, b.cout, b.cout, 1, true, noClamp),
			down:  b.down,
		})
	}
	fc := l.get("fc", 256, 128)
	if l.err != nil {
		return nil, l.err
	}
	n.fc = newConv(fc, nil, 1, 1, 256, 128, 1, true, noClamp)
	return n, nil
}

// meanRGB is what face-api subtracts from the 0…255 input of the landmark and descriptor nets.
var meanRGB = [3]float32{122.782, 117.001, 104.298}

func (n *recognitionNet) forward(wp *workerPool, src *rgb) [128]float32 {
	e := n.pool.get(wp)
	defer n.pool.put(e)
	x := e.newTensor(150, 150, 3)
	src.squareInput(x.d, 150, true)
	for i := range x.d {
		x.d[i] = (x.d[i] - meanRGB[i%3]) / 255
	}
	out := n.down.forward(e, x)
	e.release(x)
	x = maxPool(e, out, 3, 2)
	e.release(out)
	for _, b := range n.blocks {
		y := b.forward(e, x)
		e.release(x)
		x = y
	}
	// Global average pool, then the 256→128 projection.
	avg := globalAvgPool(e, x)
	d := dense(e, avg, n.fc)
	var desc [128]float32
	copy(desc[:], d)
	e.put(avg)
	e.put(d)
	return desc
}

// forward runs one residual block: relu(conv2(conv1(x)) + shortcut(x)). A down block's shortcut
// is a 2×2 average pool, zero-padded to the new channel count; where the strided 'valid' conv
// comes out one pixel smaller than the pool, its output is zero-padded at the bottom and right.
func (b *resBlock) forward(e *engine, x tensor) tensor {
	h := b.conv1.forward(e, x)
	y := b.conv2.forward(e, h)
	e.release(h)
	if !b.down {
		add(y.d, y.d, x.d)
		reluTo(y.d, y.d)
		return y
	}
	p := avgPool(e, x, 2, 2)
	out := e.newTensor(p.h, p.w, y.c)
	for r := 0; r < p.h; r++ {
		for c := 0; c < p.w; c++ {
			o := out.d[(r*p.w+c)*y.c : (r*p.w+c+1)*y.c]
			clear(o)
			if r < y.h && c < y.w {
				copy(o, y.d[(r*y.w+c)*y.c:])
			}
			for i, v := range p.d[(r*p.w+c)*p.c : (r*p.w+c+1)*p.c] {
				o[i] += v
			}
		}
	}
	reluTo(out.d, out.d)
	e.release(p)
	e.release(y)
	return out
}

// DescriptorOf computes the 128-d descriptor of an aligned face image (150×150, as Align gives;
// any other size is padded to a square and resized to 150×150 as face-api does).
func (m *Models) DescriptorOf(aligned image.Image) ([128]float32, error) {
	if err := checkSize(aligned); err != nil {
		return [128]float32{}, err
	}
	b := aligned.Bounds()
	if b.Empty() {
		return [128]float32{}, fmt.Errorf("descriptor of an empty image: %w", ErrNoFace)
	}
	return m.recognition.forward(m.workers, toRGB(aligned, b)), nil
}
