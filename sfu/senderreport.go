package sfu

import (
	"time"

	"github.com/pion/rtcp"
)

// srInterval is how often a down track sends its subscriber a sender report:
// what the browser needs to keep audio and video in sync.
const srInterval = int64(time.Second)

// senderReport builds the sender report due after p, or nil. It runs under d.mu. The report carries the publisher's own clock: the
// NTP time its latest sender report gives this packet's timestamp (so audio
// and video stay in sync exactly as the publisher captured them, whatever the
// forwarding jitter), or the packet's arrival time before any report came.
func (d *RTPDownTrack) senderReport(b *binding, p *Packet) *rtcp.SenderReport {
	if d.sendRTCP == nil || p.Arrival-d.lastSR < srInterval || p.Layer != d.cur.layer {
		return nil // not due, or p is of a layer this track does not forward
	}
	d.lastSR = p.Arrival
	at := time.Unix(0, p.Arrival)
	if m, ok := d.cur.TimeMapping(); ok {
		at = m.Time(p.Timestamp)
	}
	ntp := toNTP(at)
	d.rr.sent(ntp, time.Now())
	return &rtcp.SenderReport{
		SSRC: b.ssrc, NTPTime: ntp, RTPTime: p.Timestamp + d.rw.cur.ts, // p's timestamp as this track numbers it
		PacketCount: uint32(d.packets.Load()), OctetCount: uint32(d.octets.Load()),
	}
}

// toNTP is t as a 64-bit NTP timestamp.
func toNTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpUnixOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}
