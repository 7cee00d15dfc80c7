package sip

import "unsafe"

// A parsed message, its private copy of the text and the storage of its
// fields share one allocation: the fields and the text sit after the
// message struct, in an array that holds no pointers, so the collector
// never scans it. One allocation instead of two saves an allocator call
// and its bookkeeping on every message, and the fields take only the room
// a message needs instead of a fixed array in every struct: the size of
// the allocation is what a parse costs the collector. The array is sized
// so that the whole fills an allocator size class; the fields get what
// the text leaves of it. Only the size classes whose spans hold many
// objects are used (1408 bytes: 11 in 16 KiB, not 1280: 6 in 8 KiB):
// every span the allocator fetches costs a lock and a sweep, and
// measured, a message in a class of few objects per span parses slower
// even when it is smaller.

// withText is a message struct followed by room for its fields and text.
type withText[M any, B any] struct {
	m M
	b B
}

// mallocHeader is the type header the allocator puts before an object
// larger than 512 bytes that holds pointers.
const mallocHeader = 8

const (
	reqSize   = int(unsafe.Sizeof(Request{})) + mallocHeader
	respSize  = int(unsafe.Sizeof(Response{})) + mallocHeader
	fieldSize = int(unsafe.Sizeof(field{}))
)

// fieldRoomFor is the least room for fields that a message of n bytes
// gets: twelve (nearly every message has fewer), more for a long one.
func fieldRoomFor(n int) int { return max(12, n/64) }

// newRequest returns a zero Request, a buffer of n bytes for its text and room
// for its fields, in one allocation when n is small enough.
func newRequest(n int) (*Request, []byte, []field) {
	need := reqSize + n + fieldRoomFor(n)*fieldSize
	switch {
	case need <= 1024:
		return sized[Request, [1024 - reqSize]byte](n)
	case need <= 1152:
		return sized[Request, [1152 - reqSize]byte](n)
	case need <= 1408:
		return sized[Request, [1408 - reqSize]byte](n)
	case need <= 1792:
		return sized[Request, [1792 - reqSize]byte](n)
	case need <= 2304:
		return sized[Request, [2304 - reqSize]byte](n)
	case need <= 3072:
		return sized[Request, [3072 - reqSize]byte](n)
	case need <= 3456:
		return sized[Request, [3456 - reqSize]byte](n)
	case need <= 4864:
		return sized[Request, [4864 - reqSize]byte](n)
	case need <= 6912:
		return sized[Request, [6912 - reqSize]byte](n)
	case need <= 9472:
		return sized[Request, [9472 - reqSize]byte](n)
	}
	return new(Request), make([]byte, n), nil
}

// newResponse returns a zero Response, a buffer of n bytes for its text and room
// for its fields, in one allocation when n is small enough.
func newResponse(n int) (*Response, []byte, []field) {
	need := respSize + n + fieldRoomFor(n)*fieldSize
	switch {
	case need <= 1024:
		return sized[Response, [1024 - respSize]byte](n)
	case need <= 1152:
		return sized[Response, [1152 - respSize]byte](n)
	case need <= 1408:
		return sized[Response, [1408 - respSize]byte](n)
	case need <= 1792:
		return sized[Response, [1792 - respSize]byte](n)
	case need <= 2304:
		return sized[Response, [2304 - respSize]byte](n)
	case need <= 3072:
		return sized[Response, [3072 - respSize]byte](n)
	case need <= 3456:
		return sized[Response, [3456 - respSize]byte](n)
	case need <= 4864:
		return sized[Response, [4864 - respSize]byte](n)
	case need <= 6912:
		return sized[Response, [6912 - respSize]byte](n)
	case need <= 9472:
		return sized[Response, [9472 - respSize]byte](n)
	}
	return new(Response), make([]byte, n), nil
}

// sized allocates an M with an array B after it, and returns the M, n
// bytes of the array for the text and the rest (from its start) as room
// for fields.
func sized[M any, B any](n int) (*M, []byte, []field) {
	x := new(withText[M, B])
	p := unsafe.Pointer(&x.b)
	// The array starts at a multiple of 8 (the struct's size), so fields
	// are aligned.
	k := (int(unsafe.Sizeof(x.b)) - n) / fieldSize
	fields := unsafe.Slice((*field)(p), k)[:0]
	text := unsafe.Slice((*byte)(unsafe.Add(p, k*fieldSize)), n)
	return &x.m, text, fields
}
