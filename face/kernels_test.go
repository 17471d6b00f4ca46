package face

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func near(a, b []float32, tol float64) (int, bool) {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return i, false
		}
	}
	return 0, true
}

// The assembly kernels agree with the portable ones.
func TestKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{1, 3, 27, 64, 289} {
		lda, ldc := k+5, 37
		a, b := randSlice(r, (rowPad-1)*lda+k), randSlice(r, 16*k)
		bias := randSlice(r, 16)
		for _, clamp := range [][2]float32{noClamp, relu, relu6} {
			got, want := make([]float32, rowPad*ldc), make([]float32, rowPad*ldc)
			kernel12x16(a, lda, b, k, got, ldc, bias, clamp[0], clamp[1])
			kernel12x16Go(a, lda, b, k, want, ldc, bias, clamp[0], clamp[1])
			if i, ok := near(got, want, 1e-5); !ok {
				t.Fatalf("kernel12x16 k=%d clamp=%v: [%d] = %v, want %v", k, clamp, i, got[i], want[i])
			}
		}
	}
	for _, c := range []int{8, 24, 32, 40, 160} {
		for _, stride := range []int{1, 2} {
			n := 7
			in, w := randSlice(r, (n-1)*stride*c+c), randSlice(r, c)
			got := randSlice(r, n*c)
			want := append([]float32(nil), got...)
			dwAccRow(got, in, w, n, c, stride*c)
			dwAccRowGo(want, in, w, n, c, stride*c)
			if i, ok := near(got, want, 1e-6); !ok {
				t.Fatalf("dwAccRow c=%d stride=%d: [%d] = %v, want %v", c, stride, i, got[i], want[i])
			}
		}
	}
	for _, c := range []int{16, 32, 48, 160} {
		for _, stride := range []int{1, 2} {
			n := 5
			in, w := randSlice(r, (n-1)*stride*c+3*c), randSlice(r, 3*c)
			got := randSlice(r, n*c)
			want := append([]float32(nil), got...)
			dwAcc3Row(got, in, w, n, c, stride*c)
			dwAcc3RowGo(want, in, w, n, c, stride*c)
			if i, ok := near(got, want, 1e-5); !ok {
				t.Fatalf("dwAcc3Row c=%d stride=%d: [%d] = %v, want %v", c, stride, i, got[i], want[i])
			}
		}
	}
	x := randSlice(r, 45)
	want := append([]float32(nil), x...)
	clampVec(x, -0.5, 0.25)
	clampVecGo(want, -0.5, 0.25)
	if i, ok := near(x, want, 0); !ok {
		t.Fatalf("clampVec: [%d] = %v, want %v", i, x[i], want[i])
	}
}
