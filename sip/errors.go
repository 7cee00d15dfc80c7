package sip

import (
	"errors"
	"fmt"
)

// ParseError describes a message that could not be parsed, with what the
// receiver should do about it, in the manner of RFC 3261 §8.2 and RFC 4475.
type ParseError struct {
	// Status is the response a UAS or proxy answers with: 400 in general,
	// 505 for an unsupported SIP version (§21.5.6), 501 for an
	// unknown method whose CSeq disagrees (RFC 4475 §3.1.2.18), 413 when
	// the message exceeds the size limit.
	Status StatusCode
	// Reason says what is wrong, in words fit for a Warning or a log.
	Reason string
	// Header names the header field at fault, if any.
	Header string
	// Offset is the byte offset of the fault in the input; Line its line
	// number, 1-based.
	Offset, Line int
	// Request is the request as far as it could be parsed, when its Via,
	// From, To, Call-ID and CSeq are intact enough to build a response with
	// [NewResponse]; nil otherwise (and always for responses and
	// unparseable input, which are dropped — answering them would let
	// anybody use us as an amplifier).
	Request *Request
	// Framing is true when the error makes the message boundary unknown (a
	// missing, negative or conflicting Content-Length): a stream must be
	// closed after it (RFC 4475 §3.1.2.3, §3.3.9).
	Framing bool
}

// Unwrap lets errors.Is find [ErrMessageTooLarge] for a message over a
// size or header-count limit and [ErrFraming] for a framing error.
func (e *ParseError) Unwrap() []error {
	var errs []error
	if e.Status == StatusMessageTooLarge {
		errs = append(errs, ErrMessageTooLarge)
	}
	if e.Framing {
		errs = append(errs, ErrFraming)
	}
	return errs
}

// CanRespond reports whether a response can be sent for this error.
func (e *ParseError) CanRespond() bool { return e.Request != nil }

// Error returns "sip: <reason> [in <header>] at line L (offset O)".
func (e *ParseError) Error() string {
	h := ""
	if e.Header != "" {
		h = " in " + e.Header
	}
	return fmt.Sprintf("sip: %s%s at line %d (offset %d)", e.Reason, h, e.Line, e.Offset)
}

// headerError is what typed header parsers return; the message parser wraps
// it in a ParseError with the position.
type headerError struct{ reason string }

func (e *headerError) Error() string { return "sip: " + e.reason }

func errHeader(reason string) error { return &headerError{reason} }

// Sentinel errors.
var (
	// ErrMessageTooLarge is wrapped by errors for messages over the limit.
	ErrMessageTooLarge = errors.New("sip: message too large")
)

func reasonOf(err error) string {
	var he *headerError
	if errors.As(err, &he) {
		return he.reason
	}
	var ue *uriError
	if errors.As(err, &ue) {
		return "invalid URI: " + ue.reason
	}
	return err.Error()
}
