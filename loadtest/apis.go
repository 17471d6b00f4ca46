package loadtest

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// apis are the two pion APIs every PeerConnection of a run is built from:
// building one per peer would repeat the codec and interceptor setup 400
// times, and only the publishers need interceptors.
type apis struct {
	pub, sub *webrtc.API
}

// newAPIs limits ICE to the given local addresses, so a run stays on
// loopback or inside a network namespace, and turns off what each of
// hundreds of peers would otherwise pay for: mDNS (a multicast socket per
// peer) and, on subscribers, every interceptor (no NACK, report or TWCC
// goroutines and timers per peer: loss is counted from sequence gaps).
func newAPIs(ips []string, video, audio *Track) (*apis, error) {
	se, err := settingEngine(ips)
	if err != nil {
		return nil, err
	}

	// Publishers offer exactly the clip's codecs, so the server cannot pick
	// one the clip is not in, and keep pion's default interceptors: the NACK
	// responder and sender reports a real encoder's stack has.
	pm := &webrtc.MediaEngine{}
	feedback := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for _, t := range []*Track{video, audio} {
		if t == nil {
			continue
		}
		kind, pt := webrtc.RTPCodecTypeVideo, webrtc.PayloadType(96)
		fb := feedback
		switch t.Codec.MimeType {
		case webrtc.MimeTypeOpus:
			kind, pt, fb = webrtc.RTPCodecTypeAudio, 111, nil
		case webrtc.MimeTypeH264:
			pt = 102
		}
		c := t.Codec
		c.RTCPFeedback = fb
		if err := pm.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c, PayloadType: pt}, kind); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	preg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(pm, preg); err != nil {
		return nil, fmt.Errorf("publisher interceptors: %w", err)
	}

	sm := &webrtc.MediaEngine{}
	if err := sm.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("subscriber codecs: %w", err)
	}
	return &apis{
		pub: webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(pm), webrtc.WithInterceptorRegistry(preg)),
		sub: webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(sm), webrtc.WithInterceptorRegistry(&interceptor.Registry{})),
	}, nil
}

// settingEngine gathers host candidates on ips only. Each peer still gets a
// UDP socket of its own: a shared mux would give all subscribers one
// address, and an SFU that demultiplexes by remote address could not tell
// them apart; separate sockets also give each its own kernel receive buffer.
func settingEngine(ips []string) (webrtc.SettingEngine, error) {
	var se webrtc.SettingEngine
	if len(ips) == 0 {
		return se, fmt.Errorf("no ICE address given (e.g. 127.0.0.1)")
	}
	allowed := make([]net.IP, 0, len(ips))
	loopback, v4, v6 := false, false, false
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return se, fmt.Errorf("ICE address %q is not an IP address", s)
		}
		allowed = append(allowed, ip)
		loopback = loopback || ip.IsLoopback()
		if ip.To4() != nil {
			v4 = true
		} else {
			v6 = true
		}
	}
	se.SetIPFilter(func(ip net.IP) bool {
		for _, a := range allowed {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	})
	se.SetIncludeLoopbackCandidate(loopback)
	var nets []webrtc.NetworkType
	if v4 {
		nets = append(nets, webrtc.NetworkTypeUDP4)
	}
	if v6 {
		nets = append(nets, webrtc.NetworkTypeUDP6)
	}
	se.SetNetworkTypes(nets)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelDisabled // teardown of hundreds of peers is noisy; the counters tell what matters
	se.LoggerFactory = logs
	return se, nil
}
