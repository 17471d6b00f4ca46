package face

// Portable versions of the inner loops. On amd64 with AVX2 and FMA the assembly versions in
// kernels_amd64.s replace them; the tests check that both agree.

// kernel12x16Go computes 12 rows × 16 columns of C = clamp(A·B + bias): A rows are lda apart,
// b is one packed panel (k rows of 16), C rows are ldc apart.
func kernel12x16Go(a []float32, lda int, b []float32, k int, c []float32, ldc int, bias []float32, lo, hi float32) {
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

// dwAcc3RowGo is dwAccRowGo for three neighbouring taps at once: w holds their 3·c weights and
// tap t of pixel p reads in[p·stride+t·c+j].
func dwAcc3RowGo(out, in, w []float32, n, c, stride int) {
	w0, w1, w2 := w[:c], w[c:2*c], w[2*c:3*c]
	for p := 0; p < n; p++ {
		o := out[p*c : p*c+c]
		x := in[p*stride : p*stride+3*c]
		for j := range o {
			o[j] += x[j]*w0[j] + x[c+j]*w1[j] + x[2*c+j]*w2[j]
		}
	}
}

// clampVecGo clamps every element of x to [lo, hi].
func clampVecGo(x []float32, lo, hi float32) {
	for i, v := range x {
		x[i] = min(max(v, lo), hi)
	}
}
