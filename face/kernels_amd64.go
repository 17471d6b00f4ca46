package face

import "golang.org/x/sys/cpu"

var (
	useAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useAVX512 = cpu.X86.HasAVX512F
)

//go:noescape
func kernel12x16AVX512(a *float32, lda int, b *float32, k int, c *float32, ldc int, bias *float32, lo, hi float32)

//go:noescape
func kernel6x16AVX2(a *float32, lda int, b *float32, k int, c *float32, ldc int, bias *float32, lo, hi float32)

//go:noescape
func dwAccRowAVX2(out, in, w *float32, n, c, stride int)

//go:noescape
func dwAcc3RowAVX2(out, in, w *float32, n, c, stride int)

//go:noescape
func clampVecAVX2(x *float32, n int, lo, hi float32)

func kernel12x16(a []float32, lda int, b []float32, k int, c []float32, ldc int, bias []float32, lo, hi float32) {
	if !useAVX2 || k == 0 {
		kernel12x16Go(a, lda, b, k, c, ldc, bias, lo, hi)
		return
	}
	// The bounds the assembly relies on.
	_ = a[(rowPad-1)*lda+k-1]
	_ = b[16*k-1]
	_ = c[(rowPad-1)*ldc+15]
	_ = bias[15]
	if useAVX512 {
		kernel12x16AVX512(&a[0], lda, &b[0], k, &c[0], ldc, &bias[0], lo, hi)
		return
	}
	kernel6x16AVX2(&a[0], lda, &b[0], k, &c[0], ldc, &bias[0], lo, hi)
	kernel6x16AVX2(&a[6*lda], lda, &b[0], k, &c[6*ldc], ldc, &bias[0], lo, hi)
}

func dwAccRow(out, in, w []float32, n, c, stride int) {
	if !useAVX2 || c%8 != 0 || n == 0 {
		dwAccRowGo(out, in, w, n, c, stride)
		return
	}
	_ = out[n*c-1]
	_ = in[(n-1)*stride+c-1]
	_ = w[c-1]
	dwAccRowAVX2(&out[0], &in[0], &w[0], n, c, stride)
}

func dwAcc3Row(out, in, w []float32, n, c, stride int) {
	if !useAVX2 || c%16 != 0 || n == 0 {
		dwAcc3RowGo(out, in, w, n, c, stride)
		return
	}
	_ = out[n*c-1]
	_ = in[(n-1)*stride+3*c-1]
	_ = w[3*c-1]
	dwAcc3RowAVX2(&out[0], &in[0], &w[0], n, c, stride)
}

func clampVec(x []float32, lo, hi float32) {
	n := len(x) &^ 7
	if useAVX2 && n > 0 {
		clampVecAVX2(&x[0], n, lo, hi)
	}
	clampVecGo(x[n:], lo, hi)
}
