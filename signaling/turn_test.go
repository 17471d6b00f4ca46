package signaling_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
	"github.com/stoa-video/stoa/signaling"
	"github.com/stoa-video/stoa/signaling/client"
	"github.com/stoa-video/stoa/turn"
)

// A customer whose network lets nothing through but the TURN server still
// completes a call through the embedded relay.
func TestCallThroughEmbeddedTURN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	relay, err := turn.Start(turn.Config{ListenIP: "127.0.0.1", Port: 0, Realm: "stoa", Secret: []byte("turn-secret"), RelayIP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	ts := newTestServer(t, func(o *signaling.Options) { o.TURN = relay })
	agent := ts.dial(ctx, "strict", "agent", signaling.RoleHost)
	relayOnly := func(o *client.Options) { o.ICETransportPolicy = webrtc.ICETransportPolicyRelay }
	customer := ts.dial(ctx, "strict", "customer", signaling.RoleHost, relayOnly)
	if ice := customer.Joined().ICEServers; len(ice) == 0 || ice[0].Username == "" || ice[0].Credential == "" {
		t.Fatalf("joined carries no TURN credentials: %+v", ice)
	}
	ra, rc := newReceiver(agent), newReceiver(customer)
	newPublisher(t, 'a').start(ctx, t, agent)
	newPublisher(t, 'c').start(ctx, t, customer)
	if !ra.receivesFrom(ctx, "customer", 30) || !rc.receivesFrom(ctx, "agent", 30) {
		t.Fatalf("no call through the relay: agent got %+v, customer got %+v", ra.stats("customer", "video"), rc.stats("agent", "video"))
	}
	// Prove the media really took the relay: the selected pair's local candidate is a relay one.
	relayed := nominatedLocal(customer.PublishPC()).CandidateType == webrtc.ICECandidateTypeRelay
	if !relayed {
		t.Error("the customer's publication did not use a relay candidate")
	}
}

// A client whose network blocks UDP completes the call over ICE-TCP to the
// server's one TCP port.
func TestCallOverICETCP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ts := newTestServerWith(t, sfu.Config{UDPPort: 0, TCPPort: 0, ICEIPs: []string{"127.0.0.1"}})
	agent := ts.dial(ctx, "tcp", "agent", signaling.RoleHost)
	tcpOnly := func(o *client.Options) {
		o.API = loopbackAPIWith(t, func(s *webrtc.SettingEngine) {
			s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
		})
	}
	customer := ts.dial(ctx, "tcp", "customer", signaling.RoleHost, tcpOnly)
	ra, rc := newReceiver(agent), newReceiver(customer)
	newPublisher(t, 'a').start(ctx, t, agent)
	newPublisher(t, 'c').start(ctx, t, customer)
	if !ra.receivesFrom(ctx, "customer", 30) || !rc.receivesFrom(ctx, "agent", 30) {
		t.Fatalf("no call over ICE-TCP: agent got %+v, customer got %+v", ra.stats("customer", "video"), rc.stats("agent", "video"))
	}
	tcp := nominatedLocal(customer.PublishPC()).Protocol == "tcp"
	if !tcp {
		t.Error("the customer's publication did not use a TCP candidate")
	}
}

// nominatedLocal is the local candidate of pc's nominated ICE pair.
func nominatedLocal(pc *webrtc.PeerConnection) webrtc.ICECandidateStats {
	stats := pc.GetStats()
	for _, s := range stats {
		if pair, ok := s.(webrtc.ICECandidatePairStats); ok && pair.Nominated {
			if lc, ok := stats[pair.LocalCandidateID].(webrtc.ICECandidateStats); ok {
				return lc
			}
		}
	}
	return webrtc.ICECandidateStats{}
}
