package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/stoa-video/stoa/sfu"
)

// MaxMessageSize is the largest websocket frame the server accepts; an SDP with
// many candidates stays well below it.
const MaxMessageSize = 64 << 10

// Message is one signaling frame in either direction. It is a flat union of the
// fields docs/signaling.md lists; each type uses the fields its row names.
type Message struct {
	Type          string                   `json:"type"`
	ID            int64                    `json:"id,omitempty"`
	Token         string                   `json:"token,omitempty"`
	Role          string                   `json:"role,omitempty"`
	Mode          string                   `json:"mode,omitempty"`
	AutoSubscribe *bool                    `json:"autoSubscribe,omitempty"`
	Session       string                   `json:"session,omitempty"`
	Resumed       bool                     `json:"resumed,omitempty"`
	Room          string                   `json:"room,omitempty"`
	UID           string                   `json:"uid,omitempty"`
	Tag           string                   `json:"tag,omitempty"`
	PC            string                   `json:"pc,omitempty"`
	SDP           string                   `json:"sdp,omitempty"`
	Candidate     *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Kind          string                   `json:"kind,omitempty"`
	Muted         *bool                    `json:"muted,omitempty"`
	StreamType    *int                     `json:"streamType,omitempty"`
	Layers        []string                 `json:"layers,omitempty"`
	AudioMuted    bool                     `json:"audioMuted,omitempty"`
	VideoMuted    bool                     `json:"videoMuted,omitempty"`
	Reason        string                   `json:"reason,omitempty"`
	Stream        *sfu.StreamInfo          `json:"stream,omitempty"`
	Streams       []sfu.StreamInfo         `json:"streams,omitempty"`
	Participants  []sfu.ParticipantInfo    `json:"participants,omitempty"`
	ICEServers    []ICEServer              `json:"iceServers,omitempty"`
	ExpiresAt     int64                    `json:"expiresAt,omitempty"`
	GraceMs       int64                    `json:"graceMs,omitempty"`
	T             *float64                 `json:"t,omitempty"`
	RTT           float64                  `json:"rtt,omitempty"`
	// Seq numbers a client's pings; Uplink, Downlink and Remote are
	// network-quality's levels; Tip, LostRate and ContinueLostCount are
	// network-tip's.
	Seq               *uint32               `json:"seq,omitempty"`
	Uplink            *int                  `json:"uplink,omitempty"`
	Downlink          *int                  `json:"downlink,omitempty"`
	Remote            map[string]LinkLevels `json:"remote,omitempty"`
	Tip               *string               `json:"tip,omitempty"`
	LostRate          *float64              `json:"lostRate,omitempty"`
	ContinueLostCount *int                  `json:"continueLostCount,omitempty"`
	Code              string                `json:"code,omitempty"`
	Message           string                `json:"message,omitempty"`
}

// ICEServer is a STUN or TURN server handed to clients in `joined`.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Message types a client may send.
const (
	TypeJoin        = "join"
	TypePublish     = "publish"
	TypeUnpublish   = "unpublish"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeOffer       = "offer"
	TypeAnswer      = "answer"
	TypeCandidate   = "candidate"
	TypeRestart     = "restart"
	TypeMute        = "mute"
	// TypeSetStreamType chooses which simulcast layer of a publisher's video
	// this participant receives: Agora's setRemoteVideoStreamType.
	TypeSetStreamType = "set-stream-type"
	TypeRenew         = "renew"
	TypePing          = "ping"
	TypeLeave         = "leave"
)

// Message types only the server sends.
const (
	TypeJoined            = "joined"
	TypeParticipantJoined = "participant-joined"
	TypePeerLeave         = "peer-leave"
	TypeStreamAdded       = "stream-added"
	TypeStreamRemoved     = "stream-removed"
	TypeStreamUpdated     = "stream-updated"
	TypeRoleChanged       = "role-changed"
	TypeSubscribed        = "subscribed"
	TypeUnsubscribed      = "unsubscribed"
	TypeUnpublished       = "unpublished"
	TypeMuted             = "muted"
	TypeStreamTypeSet     = "stream-type-set"
	TypeRenewed           = "renewed"
	TypeLeft              = "left"
	TypePong              = "pong"
	TypeTokenWillExpire   = "token-will-expire"
	TypeTokenExpired      = "token-expired"
	TypeError             = "error"
	// TypeNetworkQuality carries a participant's Agora levels (0–6) and
	// those of the others in its room, every 2 s.
	TypeNetworkQuality = "network-quality"
	// TypeNetworkTip tells the room's agents, and the participant itself,
	// the seed's tip about its network, and "" when it recovers.
	TypeNetworkTip = "network-tip"

	// TypeLayers tells a simulcast publisher which layers (rids) to send:
	// those somebody watches, and always the highest.
	TypeLayers = sfu.EventLayers
)

// DecodeClientMessage parses one frame sent by a client and checks that its
// type is known and its required fields are present, so handlers can trust it.
func DecodeClientMessage(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxMessageSize {
		return m, Errorf(CodeMessageTooLarge, "message of %d bytes exceeds the limit of %d", len(data), MaxMessageSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return m, Errorf(CodeBadJSON, "a message must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return Message{}, &Error{Code: CodeBadJSON, Message: "cannot parse message: " + err.Error(), Err: err}
	}
	if err := m.validate(); err != nil {
		return m, err
	}
	return m, nil
}

func (m *Message) validate() error {
	need := func(ok bool, field string) error {
		if !ok {
			return Errorf(CodeBadRequest, "%s needs %q", m.Type, field)
		}
		return nil
	}
	switch m.Type {
	case TypeJoin:
		if err := need(m.Token != "", "token"); err != nil {
			return err
		}
		if m.Role != "" && m.Role != string(RoleHost) && m.Role != string(RoleAudience) {
			return Errorf(CodeBadRequest, "join: role must be host or audience, not %q", m.Role)
		}
		if m.Mode != "" && m.Mode != string(sfu.ModeRTC) && m.Mode != string(sfu.ModeLive) {
			return Errorf(CodeBadRequest, "join: mode must be rtc or live, not %q", m.Mode)
		}
		return nil
	case TypePublish:
		return need(m.SDP != "", "sdp")
	case TypeOffer, TypeAnswer:
		if err := need(m.PC != "", "pc"); err != nil {
			return err
		}
		return need(m.SDP != "", "sdp")
	case TypeCandidate, TypeRestart:
		return need(m.PC != "", "pc")
	case TypeSubscribe, TypeUnsubscribe:
		return need(m.UID != "", "uid")
	case TypeMute:
		if m.Kind != "audio" && m.Kind != "video" {
			return Errorf(CodeBadRequest, "mute: kind must be audio or video, not %q", m.Kind)
		}
		return need(m.Muted != nil, "muted")
	case TypeSetStreamType:
		if err := need(m.UID != "", "uid"); err != nil {
			return err
		}
		if err := need(m.StreamType != nil, "streamType"); err != nil {
			return err
		}
		if t := sfu.StreamType(*m.StreamType); t != sfu.StreamHigh && t != sfu.StreamLow {
			return Errorf(CodeBadRequest, "set-stream-type: streamType must be 0 (high) or 1 (low), not %d", *m.StreamType)
		}
		return nil
	case TypeRenew:
		return need(m.Token != "", "token")
	case TypeUnpublish, TypePing, TypeLeave:
		return nil
	case "":
		return Errorf(CodeUnknownType, "message has no type")
	default:
		return Errorf(CodeUnknownType, "unknown message type %q", truncate(m.Type, 40))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// String renders a message for debug logs without its token or SDP.
func (m Message) String() string {
	return fmt.Sprintf("%s(id=%d uid=%q pc=%q code=%q)", m.Type, m.ID, m.UID, m.PC, m.Code)
}
