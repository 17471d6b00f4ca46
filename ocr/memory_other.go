//go:build !linux || !cgo

package ocr

func tuneMalloc() {}

// ReleaseMemory would hand malloc's free pages back to the OS; without glibc
// and cgo there is no portable way, so it does nothing.
func (e *Engine) ReleaseMemory() {}
