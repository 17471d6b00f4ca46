//go:build linux && cgo

package ocr

/*
#include <malloc.h>

// stoaMallocTune fixes glibc's thresholds, which otherwise drift with what
// was freed last: blocks of 32 MB or more (ONNX Runtime's largest tensors)
// come straight from mmap and go back to the OS when freed, smaller ones stay
// in malloc's heap (no trimming after every free: that costs reads up to 2×)
// until ReleaseMemory trims it after each job.
static void stoaMallocTune(void) {
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
*/
import "C"

import "sync"

var tuneOnce sync.Once

// tuneMalloc is called when an Engine is made.
func tuneMalloc() { tuneOnce.Do(func() { C.stoaMallocTune() }) }

// ReleaseMemory hands the heap pages malloc keeps after a burst of reads
// (ONNX Runtime's smaller allocations) back to the OS; the server calls it
// when a heavy job ends, so RSS falls back after a burst.
func (e *Engine) ReleaseMemory() { C.malloc_trim(0) }
