package sfu

// StreamInfo describes one participant's publication as the other participants see it.
type StreamInfo struct {
	UID        string `json:"uid"`
	Audio      bool   `json:"audio"`
	Video      bool   `json:"video"`
	AudioMuted bool   `json:"audioMuted"`
	VideoMuted bool   `json:"videoMuted"`
	Codec      string `json:"codec,omitempty"`
}

// ParticipantInfo describes a participant as the others see it.
type ParticipantInfo struct {
	UID  string `json:"uid"`
	Role string `json:"role"`
	Tag  string `json:"tag,omitempty"`
}

// Mode is a room's mode, as in Agora: in ModeRTC everyone may publish; in
// ModeLive participants join as audience and become hosts by publishing.
type Mode string

// The room modes.
const (
	ModeRTC  Mode = "rtc"
	ModeLive Mode = "live"
)
