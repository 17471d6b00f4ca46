//go:build linux && cgo

package ocr

/*
#include <malloc.h>

// stoaMallocTune makes glibc serve every block of 1 MB or more (ONNX Runtime's
// tensors) straight from mmap, so freeing one returns it to the OS at once
// instead of leaving it in a malloc arena that only grows.
static void stoaMallocTune(void) { mallopt(M_MMAP_THRESHOLD, 1 << 20); }
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
