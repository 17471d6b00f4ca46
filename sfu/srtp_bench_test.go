package sfu

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// BenchmarkDownTrackWriteSRTP measures one forwarded packet written to one
// real subscriber: header rewrite, sender-report interceptor, SRTP
// encryption and the loopback UDP send, against a pion receiver that drains
// it. One op is one subscriber write.
func BenchmarkDownTrackWriteSRTP(b *testing.B) {
	s, err := New(Config{UDPPort: 0, TCPPort: -1, ICEIPs: []string{"127.0.0.1"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	up := NewUpTrack("video", webrtc.RTPCodecTypeVideo, vp8Codec(), 1, nil)
	pc, err := s.newDownPC()
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	d := NewRTPDownTrack("video", "pub", up)
	if _, err := pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		b.Fatal(err)
	}

	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		b.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// The receiver runs no interceptors, so the allocations counted are the sender's.
	rpc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{})).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.Fatal(err)
	}
	defer rpc.Close()
	rpc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
		}
	})
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		b.Fatal(err)
	}
	offerSDP, err := setLocalAndGather(pc, offer)
	if err != nil {
		b.Fatal(err)
	}
	answerSDP, err := answerOffer(rpc, offerSDP)
	if err != nil {
		b.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answerSDP}); err != nil {
		b.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		b.Fatal("subscriber never connected")
	}
	time.Sleep(100 * time.Millisecond) // let DTLS hand SRTP keys to the sender

	payload := make([]byte, 1100)
	payload[0] = 0x10 // keyframe start
	pkt := &Packet{Packet: rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}, Payload: payload}, Keyframe: true}
	d.target.Store(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload) + 12))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i/3) * 3000
		if err := d.WriteRTP(pkt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
