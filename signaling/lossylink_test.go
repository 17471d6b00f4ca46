package signaling_test

import (
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// lossyLink is a test client's UDP socket with loss and delay injected on
// the way out (the client's uplink). Loss is deterministic, so that a 20 s
// window of pings holds exactly the injected fraction: every n-th packet of
// a class is dropped when the running count n·rate steps up. Two classes
// are counted apart: the pings (DTLS records at least pingWire bytes: the
// client pads its pings to that) and RTP. STUN, RTCP and small DTLS records
// (handshake, SCTP acknowledgements) always pass, so the connection holds.
type lossyLink struct {
	net.PacketConn
	pingLoss, rtpLoss atomic.Uint64 // math.Float64bits
	// randomRTP drops RTP at random (each packet with probability rtpLoss)
	// instead of every n-th: loss in bursts, as on a real link.
	randomRTP    atomic.Bool
	delay        atomic.Int64 // ns added to every packet
	pings, rtps  atomic.Uint64
	droppedPings atomic.Uint64

	queue  chan delayed
	closed chan struct{}
	once   sync.Once
}

// pingWire is the smallest DTLS record that carries a padded ping.
const pingWire = 110

type delayed struct {
	b   []byte
	to  net.Addr
	due time.Time
}

func newLossyLink(t *testing.T) *lossyLink {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lossyLink{PacketConn: c, queue: make(chan delayed, 4096), closed: make(chan struct{})}
	go l.deliver()
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func (l *lossyLink) setLoss(pings, rtp float64) {
	l.pingLoss.Store(math.Float64bits(pings))
	l.rtpLoss.Store(math.Float64bits(rtp))
}

func drop(rate float64, n uint64) bool {
	return rate > 0 && math.Floor(float64(n)*rate) > math.Floor(float64(n-1)*rate)
}

func (l *lossyLink) WriteTo(b []byte, to net.Addr) (int, error) {
	if len(b) > 0 {
		switch first := b[0]; {
		case first >= 20 && first <= 63 && len(b) >= pingWire: // DTLS carrying a ping
			if drop(math.Float64frombits(l.pingLoss.Load()), l.pings.Add(1)) {
				l.droppedPings.Add(1)
				return len(b), nil
			}
		case first >= 128 && first <= 191 && len(b) > 1 && (b[1] < 192 || b[1] > 223): // RTP, not RTCP
			rate := math.Float64frombits(l.rtpLoss.Load())
			lose := drop(rate, l.rtps.Add(1))
			if l.randomRTP.Load() {
				lose = rate > 0 && rand.Float64() < rate
			}
			if lose {
				return len(b), nil
			}
		}
	}
	d := time.Duration(l.delay.Load())
	if d <= 0 {
		return l.PacketConn.WriteTo(b, to)
	}
	select {
	case l.queue <- delayed{b: append([]byte(nil), b...), to: to, due: time.Now().Add(d)}:
	case <-l.closed:
	}
	return len(b), nil
}

// deliver sends delayed packets when due, in order.
func (l *lossyLink) deliver() {
	for {
		select {
		case <-l.closed:
			return
		case p := <-l.queue:
			if wait := time.Until(p.due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-l.closed:
					return
				}
			}
			_, _ = l.PacketConn.WriteTo(p.b, p.to)
		}
	}
}

func (l *lossyLink) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.PacketConn.Close()
}

// lossyAPI is a loopback pion API whose ICE goes through link.
func lossyAPI(t *testing.T, link *lossyLink) *webrtc.API {
	t.Helper()
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: link})
	t.Cleanup(func() { _ = mux.Close() })
	return loopbackAPIWith(t, func(s *webrtc.SettingEngine) { s.SetICEUDPMux(mux) })
}
