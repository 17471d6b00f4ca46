package face

// Portable versions of the inner loops. On amd64 with AVX2 and FMA the assembly versions in
// kernels_amd64.s replace them; the tests check that both agree.

// kernel6x16Go computes 6 rows × 16 columns of C = clamp(A·B + bias): A rows are lda apart,
// b is one packed panel (k rows of 16), C rows are ldc apart.
func kernel6x16Go(a []float32, lda int, b []float32, k int, c []float32, ldc int, bias []float32, lo, hi float32) {
	var acc [rowPad][16]float32
	for r := range acc {
		copy(acc[r][:], bias[:16])
	}
	for r := 0; r < rowPad; r++ {
		ar := a[r*lda : r*lda+k]
		accr := &acc[r]
		for i, av := range ar {
			bp := b[i*16 : i*16+16 : i*16+16]
			for j := range 16 {
				accr[j] += av * bp[j]
			}
		}
	}
	for r := range acc {
		cr := c[r*ldc : r*ldc+16]
		for j, v := range acc[r] {
			cr[j] = min(max(v, lo), hi)
		}
	}
}

// dwAccRowGo adds, for n output pixels of c channels, in[p·stride+j]·w[j] to out[p·c+j].
func dwAccRowGo(out, in, w []float32, n, c, stride int) {
	w = w[:c]
	for p := 0; p < n; p++ {
		o := out[p*c : p*c+c]
		x := in[p*stride : p*stride+c]
		for j, wv := range w {
			o[j] += x[j] * wv
		}
	}
}

// clampVecGo clamps every element of x to [lo, hi].
func clampVecGo(x []float32, lo, hi float32) {
	for i, v := range x {
		x[i] = min(max(v, lo), hi)
	}
}
