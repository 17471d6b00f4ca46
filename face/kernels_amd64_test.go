package face

import "testing"

// With AVX-512 present, the AVX2 kernel is checked too.
func TestKernelsAVX2(t *testing.T) {
	if !useAVX512 {
		t.Log("no AVX-512 here: TestKernels covered the AVX2 path")
		return
	}
	useAVX512 = false
	defer func() { useAVX512 = true }()
	TestKernels(t)
}

// The portable kernels (what other architectures run) reproduce the reference descriptors too.
func TestDescriptorPortableKernels(t *testing.T) {
	loadTestModels(t)
	useAVX2 = false
	defer func() { useAVX2 = true }()
	TestDescriptorMatchesReference(t)
}
