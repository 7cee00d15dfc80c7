package sip

import "unsafe"

// A parsed message and the storage of its fields share one allocation:
// the fields sit after the message struct, in an array that holds no
// pointers, so the collector never scans it, and they take the room a
// message needs instead of a fixed array in every Header. The array is
// sized so that the whole fills an allocator size class, and only the
// classes whose spans hold many objects are used (1408 bytes: 11 in a
// 16 KiB span, not 1280: 6 in 8 KiB): every span the allocator fetches
// costs a lock and a sweep, and measured, a message in a class of few
// objects per span parses slower even when it is smaller.
//
// The text has an allocation of its own: what keeps a substring of it
// alive (a transaction key, a Call-ID in a table) then keeps only the
// text alive, not the message.

// withFields is a message struct followed by room for its fields.
type withFields[M any, B any] struct {
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
// gets: twelve, or one per 64 bytes of a longer message.
func fieldRoomFor(n int) int { return max(12, n/64) }

// newRequest returns a zero Request and room for its fields in one
// allocation, as much as the size class leaves and at least
// fieldRoomFor(n) for a message of n bytes.
func newRequest(n int) (*Request, []field) {
	need := reqSize + fieldRoomFor(n)*fieldSize
	switch {
	case need <= 640:
		return sized[Request, [640 - reqSize]byte]()
	case need <= 704:
		return sized[Request, [704 - reqSize]byte]()
	case need <= 768:
		return sized[Request, [768 - reqSize]byte]()
	case need <= 896:
		return sized[Request, [896 - reqSize]byte]()
	case need <= 1024:
		return sized[Request, [1024 - reqSize]byte]()
	case need <= 1408:
		return sized[Request, [1408 - reqSize]byte]()
	case need <= 1792:
		return sized[Request, [1792 - reqSize]byte]()
	case need <= 2304:
		return sized[Request, [2304 - reqSize]byte]()
	case need <= 3072:
		return sized[Request, [3072 - reqSize]byte]()
	}
	return new(Request), nil
}

// newResponse returns a zero Response and room for its fields in one
// allocation, as much as the size class leaves and at least
// fieldRoomFor(n) for a message of n bytes.
func newResponse(n int) (*Response, []field) {
	need := respSize + fieldRoomFor(n)*fieldSize
	switch {
	case need <= 640:
		return sized[Response, [640 - respSize]byte]()
	case need <= 704:
		return sized[Response, [704 - respSize]byte]()
	case need <= 768:
		return sized[Response, [768 - respSize]byte]()
	case need <= 896:
		return sized[Response, [896 - respSize]byte]()
	case need <= 1024:
		return sized[Response, [1024 - respSize]byte]()
	case need <= 1408:
		return sized[Response, [1408 - respSize]byte]()
	case need <= 1792:
		return sized[Response, [1792 - respSize]byte]()
	case need <= 2304:
		return sized[Response, [2304 - respSize]byte]()
	case need <= 3072:
		return sized[Response, [3072 - respSize]byte]()
	}
	return new(Response), nil
}

// sized allocates an M with an array B after it, and returns the M and
// the array as room for fields.
func sized[M any, B any]() (*M, []field) {
	x := new(withFields[M, B])
	// The array starts at a multiple of 8 (the struct's size), so the
	// fields are aligned.
	k := int(unsafe.Sizeof(x.b)) / fieldSize
	return &x.m, unsafe.Slice((*field)(unsafe.Pointer(&x.b)), k)[:0]
}
