package sip

import "unsafe"

// A parsed message and its private copy of the text share one allocation:
// the text sits after the message struct, in an array that holds no
// pointers, so the collector never scans it. One allocation instead of two
// saves an allocator call and its bookkeeping on every message; the array
// sizes are chosen so that struct, text and the allocator's 8-byte type
// header fill a size class.

// withText is a message struct followed by room for its text.
type withText[M any, B any] struct {
	m M
	b B
}

// mallocHeader is the type header the allocator puts before an object
// larger than 512 bytes that holds pointers.
const mallocHeader = 8

const (
	reqSize  = int(unsafe.Sizeof(Request{})) + mallocHeader
	respSize = int(unsafe.Sizeof(Response{})) + mallocHeader
)

// newRequest returns a zero Request and a buffer of n bytes that live in
// one allocation when n is small enough.
func newRequest(n int) (*Request, []byte) {
	switch {
	case n <= 1152-reqSize:
		return sized[Request, [1152 - reqSize]byte](n)
	case n <= 1280-reqSize:
		return sized[Request, [1280 - reqSize]byte](n)
	case n <= 1408-reqSize:
		return sized[Request, [1408 - reqSize]byte](n)
	case n <= 1536-reqSize:
		return sized[Request, [1536 - reqSize]byte](n)
	case n <= 1792-reqSize:
		return sized[Request, [1792 - reqSize]byte](n)
	case n <= 2048-reqSize:
		return sized[Request, [2048 - reqSize]byte](n)
	case n <= 2304-reqSize:
		return sized[Request, [2304 - reqSize]byte](n)
	case n <= 2688-reqSize:
		return sized[Request, [2688 - reqSize]byte](n)
	case n <= 3072-reqSize:
		return sized[Request, [3072 - reqSize]byte](n)
	case n <= 4096-reqSize:
		return sized[Request, [4096 - reqSize]byte](n)
	}
	buf := make([]byte, n)
	return new(Request), buf
}

// newResponse is newRequest for a Response.
func newResponse(n int) (*Response, []byte) {
	switch {
	case n <= 1152-respSize:
		return sized[Response, [1152 - respSize]byte](n)
	case n <= 1280-respSize:
		return sized[Response, [1280 - respSize]byte](n)
	case n <= 1408-respSize:
		return sized[Response, [1408 - respSize]byte](n)
	case n <= 1536-respSize:
		return sized[Response, [1536 - respSize]byte](n)
	case n <= 1792-respSize:
		return sized[Response, [1792 - respSize]byte](n)
	case n <= 2048-respSize:
		return sized[Response, [2048 - respSize]byte](n)
	case n <= 2304-respSize:
		return sized[Response, [2304 - respSize]byte](n)
	case n <= 2688-respSize:
		return sized[Response, [2688 - respSize]byte](n)
	case n <= 3072-respSize:
		return sized[Response, [3072 - respSize]byte](n)
	case n <= 4096-respSize:
		return sized[Response, [4096 - respSize]byte](n)
	}
	buf := make([]byte, n)
	return new(Response), buf
}

func sized[M any, B any](n int) (*M, []byte) {
	x := new(withText[M, B])
	return &x.m, unsafe.Slice((*byte)(unsafe.Pointer(&x.b)), n)
}
