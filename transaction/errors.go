package transaction

import "errors"

// Sentinel errors. Test for them with [errors.Is]; a transaction that ends
// in failure reports an [*Error] whose Kind is one of the first four.
var (
	// ErrTimeout reports that a transaction timed out: Timer B or F on
	// the client side, Timer H on the server side. RFC 3261 §8.1.3.1: a
	// UAC "MUST" treat it "as if a 408 (Request Timeout) status code has
	// been received". The transaction layer never sends a 408 itself (RFC
	// 4320 §4.2).
	ErrTimeout = errors.New("transaction: timeout")
	// ErrTransport reports that the transport failed to send a message.
	// RFC 3261 §8.1.3.1: a UAC "MUST" treat it as a 503 (Service
	// Unavailable). The transport's error is the Cause of the [*Error].
	ErrTransport = errors.New("transaction: transport error")
	// ErrClosed is returned after [Layer.Close] or during
	// [Layer.Shutdown], and is the Kind of transactions ended by them.
	ErrClosed = errors.New("transaction: layer closed")
	// ErrTerminated reports a client transaction ended by
	// [ClientTx.Terminate], and is returned by [ServerTx.Respond] on a
	// server transaction that has already terminated.
	ErrTerminated = errors.New("transaction: terminated")

	// ErrFinalSent is returned by [ServerTx.Respond] for a response after
	// the final one (§17.2.2: "Any other final responses passed by the TU
	// to the server transaction MUST be discarded while in the 'Completed'
	// state"); only further 2xx responses to an INVITE, which the TU
	// retransmits itself, are accepted in the Accepted state (RFC 6026).
	ErrFinalSent = errors.New("transaction: final response already sent")
	// ErrBadResponse is returned by [ServerTx.Respond] for a response the
	// transaction may not send: nil, a status code outside 100–699, or a
	// provisional response to a non-INVITE request other than a 100 sent
	// when RFC 4320 §4.1 allows it.
	ErrBadResponse = errors.New("transaction: response not allowed")
	// ErrBadRequest is returned by [Layer.Request] for a request that
	// cannot start a client transaction: an ACK (§17.1: "There is no
	// client transaction for ACK"), or one without a top Via whose branch
	// starts with the magic cookie (§8.1.1.7), or without a CSeq whose
	// method is the request's (§8.1.1.5).
	ErrBadRequest = errors.New("transaction: request cannot start a client transaction")
	// ErrExists is returned by [Layer.Request] when a client transaction
	// with the same branch and method is running.
	ErrExists = errors.New("transaction: transaction exists")
)

// Error is the error a transaction terminated with, or that an operation
// on it failed with. It matches its Kind and its Cause with [errors.Is].
type Error struct {
	// Kind is ErrTimeout, ErrTransport, ErrClosed or ErrTerminated.
	Kind error
	// Key is the transaction's.
	Key Key
	// Timer is the timer that fired (B, F or H) for ErrTimeout, else
	// TimerNone.
	Timer Timer
	// Cause is the transport's error for ErrTransport, else nil.
	Cause error
}

// Error returns e.g. "transaction: timeout (Timer B) in z9hG4bK74bf9 INVITE".
func (e *Error) Error() string {
	s := "transaction: error"
	if e.Kind != nil {
		s = e.Kind.Error()
	}
	if e.Timer != TimerNone {
		s += " (" + e.Timer.String() + ")"
	}
	s += " in " + e.Key.String()
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns Kind and Cause, so that errors.Is(err, ErrTransport) and
// errors.Is(err, <the transport's error>) both hold.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}
