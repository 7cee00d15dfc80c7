package sip

import (
	"sync/atomic"
	"unsafe"
)

// lazyAddr is the From or To value of a message. A parsed value is kept
// as written (raw), checked by the parser, with its tag parameter found
// then, so that the tag reads without decoding; the NameAddr is decoded on
// first access. A value set through the API lives in the message's
// addrPair, which messages built by NewRequest and NewResponse carry in
// their own allocation. p, once non-nil, is authoritative.
type lazyAddr struct {
	// raw is the value as written; "" once a value was set.
	raw string
	// tag is the tag parameter's value (§19.3), a substring of raw or of
	// the set value's Params.
	tag string
	// p is the decoded value (never changed once published, so shared by
	// copies) or the set value in the owning message's addrPair.
	p ptr[NameAddr]
}

// addrPair is the storage of set From and To values.
type addrPair struct {
	from, to NameAddr
}

// get returns the value, decoding raw on first use. Goroutines may race
// here: each decodes, and the first to publish wins.
func (a *lazyAddr) get() *NameAddr {
	if p := a.p.Load(); p != nil {
		return p
	}
	n := new(NameAddr)
	if err := parseNameAddr(n, a.raw); err != nil {
		// Unreachable: raw was checked when it was stored.
		*n = NameAddr{}
	}
	if a.p.CompareAndSwap(nil, n) {
		return n
	}
	return a.p.Load()
}

// setRaw stores a checked value as written and its tag.
func (a *lazyAddr) setRaw(raw, tag string) {
	a.raw = raw
	a.tag = tag
	if a.p.Load() != nil {
		// No atomic store (a locked instruction) on the parser's path,
		// where p is still nil.
		a.p.Store(nil)
	}
}

// rawTagged reports whether the value as written has a tag parameter,
// possibly empty (only a set value has no raw form; see SetToTag).
func (a *lazyAddr) rawTagged() bool {
	if a.tag != "" {
		return true
	}
	if _, tagged, ok := scanNameAddr(a.raw); ok {
		return tagged
	}
	var n NameAddr
	if err := parseNameAddr(&n, a.raw); err != nil {
		return false
	}
	return n.Params.Has("tag")
}

// set stores n in slot, the message's own storage for it.
func (a *lazyAddr) set(slot *NameAddr, n NameAddr) {
	*slot = n
	a.raw = ""
	a.tag, _ = slot.Params.Get("tag")
	a.p.Store(slot)
}

func (a *lazyAddr) reset() {
	a.raw, a.tag = "", ""
	a.p.Store(nil)
}

// copyAddr makes dst (a value of header dh) equal to src, a value of
// header sh: a set value is copied into dh's storage, anything else
// (raw text, an immutable decoded value) is shared.
func copyAddr(dh *Header, dst *lazyAddr, sh *Header, src *lazyAddr, to bool) {
	dst.raw, dst.tag = src.raw, src.tag
	p := src.p.Load()
	if sh.set != nil && (p == &sh.set.from || p == &sh.set.to) {
		dst.set(dh.slot(to), *p)
		return
	}
	dst.p.Store(p)
}

// slot returns the storage for a set From (to false) or To value.
func (h *Header) slot(to bool) *NameAddr {
	if h.set == nil {
		h.set = new(addrPair)
	}
	if to {
		return &h.set.to
	}
	return &h.set.from
}

// appendTo appends the value's wire form.
func (a *lazyAddr) appendTo(b []byte) []byte {
	if p := a.p.Load(); p != nil {
		return p.AppendTo(b)
	}
	return append(b, a.raw...)
}

// wireLen is len(a.appendTo(nil)).
func (a *lazyAddr) wireLen() int {
	if p := a.p.Load(); p != nil {
		return p.Len()
	}
	return len(a.raw)
}

// ptr is an atomic pointer without atomic.Pointer's copy guard: a message
// may be copied by value (a shallow copy, as the server's router makes to
// look up another URI), which then shares what was decoded.
type ptr[T any] struct{ v unsafe.Pointer }

func (p *ptr[T]) Load() *T   { return (*T)(atomic.LoadPointer(&p.v)) }
func (p *ptr[T]) Store(x *T) { atomic.StorePointer(&p.v, unsafe.Pointer(x)) }
func (p *ptr[T]) CompareAndSwap(old, x *T) bool {
	return atomic.CompareAndSwapPointer(&p.v, unsafe.Pointer(old), unsafe.Pointer(x))
}
