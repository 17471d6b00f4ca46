package signaling

import "fmt"

// Stable error codes sent to clients; docs/signaling.md lists each one.
const (
	CodeBadJSON           = "bad_json"
	CodeUnknownType       = "unknown_type"
	CodeMessageTooLarge   = "message_too_large"
	CodeInvalidSDP        = "invalid_sdp"
	CodeTokenInvalid      = "token_invalid"
	CodeTokenExpired      = "token_expired"
	CodeTokenRoomMismatch = "token_room_mismatch"
	CodeRoleNotAllowed    = "role_not_allowed"
	CodeNotJoined         = "not_joined"
	CodeAlreadyJoined     = "already_joined"
	CodeStreamNotFound    = "stream_not_found"
	// CodeRecordingNotFound: no recording (or no such file of one) by that id.
	CodeRecordingNotFound = "recording_not_found"
	// CodeRecordingsOff: this server does not record.
	CodeRecordingsOff   = "recordings_off"
	CodePCNotFound      = "pc_not_found"
	CodeSessionNotFound = "session_not_found"
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeInternal        = "internal"

	// HTTP API codes.
	CodeRoomNotFound        = "room_not_found"
	CodeParticipantNotFound = "participant_not_found"
	CodeNoVideo             = "no_video"
	CodeVideoMuted          = "video_muted"
	CodeSnapshotTimeout     = "snapshot_timeout"
)

// Error is a protocol error with a stable code, so clients can react to the
// code while people read the message.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any; never sent to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Codes of the image, face and OCR APIs.
const (
	CodeBadImage        = "bad_image"
	CodeImageTooLarge   = "image_too_large"
	CodeNoFace          = "no_face"
	CodeFaceTooSmall    = "face_too_small"
	CodeUnknownPerson   = "unknown_person"
	CodeModelsMissing   = "models_missing"
	CodeUnsupportedKind = "unsupported_kind"
	CodeNoText          = "no_text"
	CodeFrameTooLarge   = "frame_too_large"
	CodePersonExists    = "person_exists"
)

// Codes of the guards in front of the API.
const (
	CodeForbidden   = "forbidden"
	CodeRateLimited = "rate_limited"
	CodeBusy        = "busy"
	CodeBadHost     = "bad_host"
	CodeBadOrigin   = "bad_origin"
	// CodeRoomFull and CodeServerFull refuse a join past the admission
	// limits (participants per room; rooms or sessions on the server).
	CodeRoomFull   = "room_full"
	CodeServerFull = "server_full"
)

// Codes of the call center API (docs/call-center.md).
const (
	// CodeCallNotFound: no call by that id.
	CodeCallNotFound = "call_not_found"
	// CodeCallTaken: another agent answered the call first.
	CodeCallTaken = "call_taken"
	// CodeCallState: the call is not in a state that allows this (ending a
	// call nobody answered, cancelling one that was answered).
	CodeCallState = "call_state"
	// CodeCallEnded: the call is over; its link cannot queue it again.
	CodeCallEnded = "call_ended"
	// CodeAgentBusy: the agent is in another call.
	CodeAgentBusy = "agent_busy"
	// CodePayloadTooLarge: the request body exceeds the route's limit.
	CodePayloadTooLarge = "payload_too_large"
	// CodeCallsOff: this server does not run the call center.
	CodeCallsOff = "calls_off"
)
