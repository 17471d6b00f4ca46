package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // uploads may be GIF
	"image/jpeg"
	_ "image/png" // uploads may be PNG
	"io"
	"mime"
	"net/http"

	_ "golang.org/x/image/webp" // phones share WebP

	"github.com/stoa-video/stoa/limit"
	"github.com/stoa-video/stoa/signaling"
)

// Image limits: a phone photo is 12–50 MP compressed to a few MB; anything
// past these is refused before it is decoded.
const (
	MaxImageBytes  = 20 << 20
	MaxImagePixels = 40_000_000
)

// Image errors, mapped to HTTP codes by the API and to messages by the CLI.
var (
	ErrBadImage      = errors.New("not a decodable JPEG, PNG, GIF or WebP image")
	ErrImageTooLarge = fmt.Errorf("image larger than %d bytes or %d pixels", MaxImageBytes, MaxImagePixels)
)

// DecodeImage reads one image with the limits above: the header is checked
// for size before any pixel is decoded, so a small file claiming to be a
// gigapixel image costs nothing.
func DecodeImage(r io.Reader) (image.Image, error) { return DecodeImageWith(r, nil) }

// DecodeImageWith is DecodeImage with a hook that sees the header's size
// before any pixel is decoded: the server uses it to take a big-image slot,
// so only so many large images are in memory at once. A hook error is
// returned as it is.
func DecodeImageWith(r io.Reader, beforeDecode func(w, h int) error) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if len(data) > MaxImageBytes {
		return nil, ErrImageTooLarge
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: empty image", ErrBadImage)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("%w: %d×%d", ErrImageTooLarge, cfg.Width, cfg.Height)
	}
	if beforeDecode != nil {
		if err := beforeDecode(cfg.Width, cfg.Height); err != nil {
			return nil, err
		}
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	return img, nil
}

// uploadedImage reads the image of a request: the raw body, or the form
// field "image" of a multipart upload. beforeDecode is DecodeImageWith's hook.
func uploadedImage(r *http.Request, beforeDecode func(w, h int) error) (image.Image, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, MaxImageBytes+1<<20)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		f, _, err := r.FormFile("image")
		if err != nil {
			return nil, fmt.Errorf("%w: multipart upload without an \"image\" file: %v", ErrBadImage, err)
		}
		defer f.Close()
		return DecodeImageWith(f, beforeDecode)
	}
	return DecodeImageWith(r.Body, beforeDecode)
}

// writeImageError answers an image decoding failure.
func writeImageError(w http.ResponseWriter, err error) {
	if errors.Is(err, limit.ErrBusy) {
		busy(w, err)
		return
	}
	if errors.Is(err, ErrImageTooLarge) {
		signaling.WriteHTTPError(w, http.StatusRequestEntityTooLarge, signaling.CodeImageTooLarge, err.Error())
		return
	}
	signaling.WriteHTTPError(w, http.StatusBadRequest, signaling.CodeBadImage, err.Error())
}

// jpegDataURL renders img as a data: URL, so a console can draw boxes over
// exactly the image that was analysed.
func jpegDataURL(img image.Image) string {
	b, _ := encodeJPEG(img)
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b)
}

// encodeJPEG encodes img at the quality the API uses for every JPEG it sends
// or keeps (snapshots, enrolled photos).
func encodeJPEG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	return b.Bytes(), err
}
