package recorder

import (
	"bytes"
	"testing"
)

// FuzzClusters feeds arbitrary bytes to the cluster walker (and Info) that
// verify and repair run on files from outside: they must not panic, and the
// spans returned must be sane spans of the input.
func FuzzClusters(f *testing.F) {
	seg := elUnknown(idSegment)
	f.Add(bytes.Join([][]byte{ebmlHeader, seg, info, cluster(0), clusterUnknown(1), el(idCues)}, nil))
	f.Add(bytes.Join([][]byte{ebmlHeader, el(idSegment, info, cluster(0), cluster(1))}, nil))
	f.Add(bytes.Join([][]byte{ebmlHeader, seg, clusterUnknown(0), ebmlHeader, seg, cluster(1)[:7]}, nil))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE})
	f.Fuzz(func(t *testing.T, data []byte) {
		spans, _ := Clusters(bytes.NewReader(data), int64(len(data)))
		end := int64(0)
		for _, s := range spans {
			if s.Offset < end || s.Size < 5 || s.Offset+s.Size > int64(len(data)) ||
				!bytes.HasPrefix(data[s.Offset:], []byte{0x1F, 0x43, 0xB6, 0x75}) {
				t.Fatalf("bad span %v after %d in %d bytes", s, end, len(data))
			}
			end = s.Offset + s.Size
		}
		_, _ = Info(bytes.NewReader(data), int64(len(data)))
		// Hashing for verification walks the same spans and must not panic.
		fh, _ := hashReader(bytes.NewReader(data), int64(len(data)))
		if len(fh.Spans) != len(spans) || len(fh.Hashes) != len(spans) {
			t.Fatalf("hashReader found %d spans and %d hashes, Clusters %d", len(fh.Spans), len(fh.Hashes), len(spans))
		}
	})
}
