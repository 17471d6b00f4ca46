// Package sfu is Stoa's media core: rooms, participants, up tracks (media from
// a publisher), down tracks (media to a subscriber, a recorder or a
// snapshotter), forwarding, the packet cache and keyframe requests.
package sfu

import (
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// UpTrack is one track of media arriving from a publisher. Everything that
// consumes media (a WebRTC subscriber, a recorder, a snapshotter) attaches to
// it as a DownTrack.
type UpTrack interface {
	// ID names the track within its publication ("audio" or "video").
	ID() string
	// Kind is audio or video.
	Kind() webrtc.RTPCodecType
	// Codec is the negotiated codec of the publisher's track.
	Codec() webrtc.RTPCodecParameters
	// AddDownTrack starts forwarding to d, and asks the publisher for a keyframe.
	AddDownTrack(d DownTrack)
	// RemoveDownTrack stops forwarding to d.
	RemoveDownTrack(d DownTrack)
	// CopyPacket copies the recently received packet with sequence number seq
	// into buf and returns its length, or 0 if it is no longer cached (NACK).
	CopyPacket(seq uint16, buf []byte) int
	// RequestKeyframe asks the publisher for a keyframe (PLI), throttled.
	RequestKeyframe()
}

// DownTrack consumes the packets of one UpTrack.
type DownTrack interface {
	// WriteRTP is called by the up track's reader goroutine for every packet.
	// It must not block and must not keep p or its payload after returning.
	WriteRTP(p *rtp.Packet) error
}
