package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config is what the media core needs from the server's configuration.
type Config struct {
	// UDPPort is the single UDP port all peers share (ICE UDP mux); 0 picks a free one.
	UDPPort int
	// TCPPort is the ICE-TCP fallback port; 0 picks a free one, -1 disables ICE-TCP.
	TCPPort int
	// ICEIPs restricts host candidates to these local addresses (empty: every
	// interface). Tests pass 127.0.0.1 so no traffic leaves the machine.
	ICEIPs []string
	// PublicIP is announced instead of the local address when the server sits
	// behind a 1:1 NAT.
	PublicIP string
	// MaxRooms and MaxParticipants (per room) bound what joins can create,
	// so that a flood of joins costs bounded memory; 0 means
	// DefaultMaxRooms and DefaultMaxParticipants.
	MaxRooms, MaxParticipants int
	// KeyframeInterval is the least time between two keyframe requests to
	// a publisher, however many subscribers ask; 0 means
	// DefaultKeyframeInterval.
	KeyframeInterval time.Duration
}

// Admission defaults: far above a claims service's needs (a call is two
// people, a live room a host and its viewers), low enough that joins alone
// cannot exhaust the server's memory.
const (
	DefaultMaxRooms        = 10_000
	DefaultMaxParticipants = 2_000
)

// engine builds the PeerConnections of both directions: publishers' (we
// receive: NACK generator, receiver reports, TWCC feedback) and subscribers'
// (no interceptors: our down tracks send the sender reports, carrying the
// publisher's clock, and answer NACKs and PLIs from the shared packet cache,
// so a forwarded packet goes straight to SRTP).
type engine struct {
	up, down *webrtc.API
	udpMux   ice.UDPMux
	tcpMux   ice.TCPMux
	tcpLn    net.Listener
	udpAddrs []net.Addr
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "goog-remb"},
}

// registerCodecs registers Opus, VP8 and H264: what browsers (Safari needs
// H264) and the Agora-shaped SDK's codec option ask for.
func registerCodecs(m *webrtc.MediaEngine, extraFeedback []webrtc.RTCPFeedback) error {
	fb := append(append([]webrtc.RTCPFeedback{}, videoFeedback...), extraFeedback...)
	audio := []webrtc.RTPCodecParameters{{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: extraFeedback},
		PayloadType: 111,
	}}
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}, PayloadType: 102},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: fb}, PayloadType: 104},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", RTCPFeedback: fb}, PayloadType: 106},
	}
	for _, c := range audio {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	return nil
}

func newEngine(cfg Config, log *slog.Logger) (*engine, error) {
	e := &engine{}
	s := webrtc.SettingEngine{LoggerFactory: pionLogFactory{log: log.With("component", "webrtc")}}
	keep := ipFilter(cfg.ICEIPs)
	loopback := false
	for _, ip := range cfg.ICEIPs {
		if p := net.ParseIP(ip); p != nil && p.IsLoopback() {
			loopback = true
		}
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4)}
	if keep != nil {
		opts = append(opts, ice.UDPMuxFromPortWithIPFilter(keep))
		s.SetIPFilter(keep)
	}
	if loopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		s.SetIncludeLoopbackCandidate(true)
	}
	mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
	if err != nil {
		return nil, fmt.Errorf("listen on ICE UDP port %d: %w", cfg.UDPPort, err)
	}
	e.udpMux = mux
	e.udpAddrs = mux.GetListenAddresses()
	s.SetICEUDPMux(mux)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if cfg.TCPPort >= 0 {
		host := ""
		if len(cfg.ICEIPs) == 1 {
			host = cfg.ICEIPs[0]
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort(host, fmt.Sprint(cfg.TCPPort)))
		if err != nil {
			_ = mux.Close()
			return nil, fmt.Errorf("listen on ICE TCP port %d: %w", cfg.TCPPort, err)
		}
		e.tcpLn = ln
		e.tcpMux = webrtc.NewICETCPMux(nil, ln, 32)
		s.SetICETCPMux(e.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	s.SetNetworkTypes(networks)
	if cfg.PublicIP != "" {
		// 1:1 NAT: announce the public address instead of the local one.
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: []string{cfg.PublicIP}, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			_ = e.close()
			return nil, fmt.Errorf("public IP %s: %w", cfg.PublicIP, err)
		}
	}
	s.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	s.SetSRTPReplayProtectionWindow(512)

	upMedia := &webrtc.MediaEngine{}
	if err := registerCodecs(upMedia, []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}); err != nil {
		return nil, err
	}
	// Simulcast: the publisher's layers are told apart by their RTP stream
	// id, which needs the MID and RID header extensions.
	for _, uri := range []string{sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI} {
		if err := upMedia.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register header extension %s: %w", uri, err)
		}
	}
	upReg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, fmt.Errorf("nack generator: %w", err)
	}
	upReg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, fmt.Errorf("receiver reports: %w", err)
	}
	upReg.Add(rr)
	if err := webrtc.ConfigureTWCCSender(upMedia, upReg); err != nil {
		return nil, fmt.Errorf("twcc: %w", err)
	}
	e.up = webrtc.NewAPI(webrtc.WithMediaEngine(upMedia), webrtc.WithInterceptorRegistry(upReg), webrtc.WithSettingEngine(s))

	downMedia := &webrtc.MediaEngine{}
	if err := registerCodecs(downMedia, nil); err != nil {
		return nil, err
	}
	downReg := &interceptor.Registry{}
	e.down = webrtc.NewAPI(webrtc.WithMediaEngine(downMedia), webrtc.WithInterceptorRegistry(downReg), webrtc.WithSettingEngine(s))
	return e, nil
}

func ipFilter(ips []string) func(net.IP) bool {
	if len(ips) == 0 {
		return nil
	}
	allowed := make([]net.IP, 0, len(ips))
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil {
			allowed = append(allowed, ip)
		}
	}
	return func(ip net.IP) bool {
		for _, a := range allowed {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	}
}

func (e *engine) close() error {
	var errs []error
	if e.tcpMux != nil {
		errs = append(errs, e.tcpMux.Close())
	}
	if e.tcpLn != nil {
		_ = e.tcpLn.Close()
	}
	if e.udpMux != nil {
		errs = append(errs, e.udpMux.Close())
	}
	return errors.Join(errs...)
}
