// Package ocr reads text from images: PaddleOCR PP-OCRv4 detection, direction
// classification and recognition through ONNX Runtime (engine), and
// structured readers for ID cards, bank cards, licences and plates on top of
// the lines (readers). It sees only images: a snapshot is an image.Image.
package ocr

import "image"

// Line is one line of recognized text, in reading order within its result.
type Line struct {
	// Text is the recognized text.
	Text string `json:"text"`
	// Score is the recognizer's mean per-character confidence, 0..1.
	Score float32 `json:"score"`
	// Box is the text's quadrilateral in image pixels: top-left, top-right,
	// bottom-right, bottom-left.
	Box [4]image.Point `json:"box"`
}
