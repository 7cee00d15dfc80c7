package stack

import (
	"errors"

	"github.com/parleysip/parley/sip"
)

// Errors of the stack package.
var (
	// ErrCanceled is the cause of a handler's context when a CANCEL for its
	// request arrived (RFC 3261 §9.2); the cause is a [*CancelError],
	// which matches it with errors.Is.
	ErrCanceled = errors.New("stack: request canceled by CANCEL")
	// ErrAbortHandler may be used as a panic value to abort a handler
	// silently; the Server still answers 500 if nothing final was sent.
	ErrAbortHandler = errors.New("stack: abort handler")
)

// CancelError is the cause of a handler's context cancelled by a CANCEL
// (§9.2). errors.Is(err, ErrCanceled) holds. Request is the CANCEL: its
// Reason header field (RFC 3326) tells why, e.g. `SIP;cause=200;
// text="Call completed elsewhere"` from a forking proxy whose other branch
// answered, which a phone shows differently from a missed call.
type CancelError struct {
	Request *sip.Request
}

func (e *CancelError) Error() string { return ErrCanceled.Error() }

// Is reports whether target is ErrCanceled.
func (e *CancelError) Is(target error) bool { return target == ErrCanceled }

// CancelReason returns the CANCEL's Reason header field values.
func (e *CancelError) CancelReason() []string {
	if e.Request == nil {
		return nil
	}
	var vs []string
	for v := range e.Request.Values(string(sip.HeaderReason)) {
		vs = append(vs, v)
	}
	return vs
}

// WithCancelReason returns an error that wraps err and carries Reason
// header field values (RFC 3326). Cancelling an INVITE's context in
// [Client.Do] with it as the cause (context.WithCancelCause) puts them in
// the CANCEL sent, e.g.
//
//	cancel(stack.WithCancelReason(errElsewhere, `SIP;cause=200;text="Call completed elsewhere"`))
//
// A [*CancelError] carries the Reason of the CANCEL it holds the same
// way, so a proxy that cancels its branches with the cause of its own
// context passes the upstream Reason on.
func WithCancelReason(err error, reasons ...string) error {
	return &reasonedError{err: err, reasons: reasons}
}

type reasonedError struct {
	err     error
	reasons []string
}

func (e *reasonedError) Error() string          { return e.err.Error() }
func (e *reasonedError) Unwrap() error          { return e.err }
func (e *reasonedError) CancelReason() []string { return e.reasons }

// cancelReasons returns the Reason values that cause carries, if any.
func cancelReasons(cause error) []string {
	var r interface{ CancelReason() []string }
	if errors.As(cause, &r) {
		return r.CancelReason()
	}
	return nil
}
