//go:build !amd64

package face

func kernel12x16(a []float32, lda int, b []float32, k int, c []float32, ldc int, bias []float32, lo, hi float32) {
	kernel12x16Go(a, lda, b, k, c, ldc, bias, lo, hi)
}

func dwAccRow(out, in, w []float32, n, c, stride int) { dwAccRowGo(out, in, w, n, c, stride) }

func dwAcc3Row(out, in, w []float32, n, c, stride int) { dwAcc3RowGo(out, in, w, n, c, stride) }

func clampVec(x []float32, lo, hi float32) { clampVecGo(x, lo, hi) }
