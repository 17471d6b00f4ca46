// Package sfu is Stoa's media core: rooms, participants, up tracks (media from
// a publisher), down tracks (media to a subscriber, a recorder or a
// snapshotter), forwarding, the packet cache and keyframe requests.
package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// UpTrack is one track of media arriving from a publisher (or an ingest).
// Everything that consumes media (a WebRTC subscriber, a recorder, a
// snapshotter, a WHEP viewer, a relay) attaches to it as a DownTrack.
type UpTrack interface {
	// ID names the track within its publication ("audio" or "video").
	ID() string
	// Kind is audio or video.
	Kind() webrtc.RTPCodecType
	// Codec is the negotiated codec of the publisher's track.
	Codec() webrtc.RTPCodecParameters
	// AddDownTrack starts forwarding to d. It is told the current time
	// mapping, if one is known, before its first packet.
	AddDownTrack(d DownTrack)
	// RemoveDownTrack stops forwarding to d.
	RemoveDownTrack(d DownTrack)
	// CopyPacket copies the recently received packet with sequence number seq
	// into buf and returns its length, or 0 if it is no longer cached (NACK).
	CopyPacket(seq uint16, buf []byte) int
	// LastKeyframe is the sequence number of the first packet of the newest
	// keyframe still in the cache, so a consumer can start from it at once
	// instead of asking the publisher for a new one.
	LastKeyframe() (seq uint16, ok bool)
	// RequestKeyframe asks the publisher for a keyframe (PLI); requests from
	// many consumers coalesce into one per keyframe interval.
	RequestKeyframe()
	// Stats returns the track's counters.
	Stats() Stats
}

// DownTrack consumes the packets of one UpTrack. Its methods are called by
// the up track's writer goroutines and must not block: a consumer that can be
// slow (a recorder, a muxer, a relay) wraps itself in NewBuffered.
type DownTrack interface {
	// WriteRTP hands over one packet. The consumer must not keep p or its
	// payload after returning (Retain it to keep it longer).
	WriteRTP(p *Packet) error
	// SetTimeMapping tells the consumer how the track's RTP timestamps map
	// to wall-clock time, from the publisher's latest sender report.
	SetTimeMapping(m TimeMapping)
	// UpTrackEnded says that no more packets will come: the publisher left
	// or unpublished.
	UpTrackEnded()
}

// TimeMapping is one sender report's pairing of the publisher's wall clock
// (NTP) with its RTP clock: what lets a recorder put audio and video on one
// timeline, across silence and loss, without summing frame durations.
type TimeMapping struct {
	// NTP is the 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point).
	NTP uint64
	// RTP is the RTP timestamp sampled at the same instant.
	RTP uint32
	// ClockRate is the RTP clock rate of the track (90000 for video).
	ClockRate uint32
	// Received is when the sender report arrived.
	Received time.Time
}

// Time returns the wall-clock time of RTP timestamp ts, per the mapping.
// Differences of up to half the RTP wrap either side of the report are
// handled.
func (m TimeMapping) Time(ts uint32) time.Time {
	secs := int64(m.NTP>>32) - ntpUnixOffset
	frac := int64(m.NTP & 0xffffffff)
	base := time.Unix(secs, frac*1e9>>32)
	if m.ClockRate == 0 {
		return base
	}
	delta := int64(int32(ts - m.RTP))
	return base.Add(time.Duration(delta * int64(time.Second) / int64(m.ClockRate)))
}

// ntpUnixOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpUnixOffset = 2208988800
