package stack

import "errors"

// Errors of the stack package.
var (
	// ErrCanceled is the cause of a handler's context when a CANCEL for its
	// request arrived (RFC 3261 §9.2).
	ErrCanceled = errors.New("stack: request canceled by CANCEL")
	// ErrAbortHandler may be used as a panic value to abort a handler
	// silently; the Server still answers 500 if nothing final was sent.
	ErrAbortHandler = errors.New("stack: abort handler")
)
