//go:build linux && cgo

package ocr

/*
#include <malloc.h>
*/
import "C"

// ReleaseMemory hands the heap pages malloc keeps after a burst of reads
// (ONNX Runtime's tensors are malloc'd) back to the OS; the server calls it
// when its last image job ends, so RSS falls back after a burst.
func (e *Engine) ReleaseMemory() { C.malloc_trim(0) }
