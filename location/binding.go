package location

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// Binding is one contact registered for an address-of-record (RFC 3261
// §10.3). Stores copy bindings in and out; a Binding returned by a store is
// the caller's to modify.
type Binding struct {
	// AoR is the canonical address-of-record the binding belongs to (see
	// [CanonicalAoR]). Stores set it from the record's key.
	AoR string
	// Contact is the Contact header value as received: URI, display name
	// and header parameters, feature tags included (RFC 3840). Its expires
	// and q parameters are as sent; Expires and Q below are authoritative.
	Contact sip.Contact
	// Expires is when the binding stops being valid. A binding with
	// Expires at or before the current time is never returned.
	Expires time.Time
	// Q is the contact's preference in thousandths (q=0.5 is 500), as
	// [sip.Contact.Q] returns it. The store does not interpret it.
	Q int
	// CallID and CSeq are those of the REGISTER that last wrote the
	// binding (§10.3 step 7: out-of-order requests are rejected with them).
	CallID string
	CSeq   uint32
	// Path is the list of Path header values of that REGISTER, in order
	// (RFC 3327 §5.3); requests to the contact get it as a route set.
	Path []string
	// InstanceID is the +sip.instance Contact parameter without its angle
	// brackets and quotes, e.g. "urn:uuid:00000000-0000-1000-8000-000A95A0E128"
	// (RFC 5626 §4.1, RFC 5627 §4.1).
	InstanceID string
	// RegID is the reg-id Contact parameter (RFC 5626 §4.2.1); 0 when absent.
	RegID uint32
	// Received is the source address of the REGISTER (RFC 3261 §18.2.1,
	// RFC 3581).
	Received netip.AddrPort
	// Flow is the flow the REGISTER arrived on (RFC 5626 §6); for an
	// outbound binding (InstanceID and RegID set), requests to the contact
	// go out on this flow through Node.
	Flow transport.Flow
	// Node names the server holding Flow when several servers share the
	// store; empty for a single server.
	Node string
	// Updated is when the binding was last written.
	Updated time.Time
}

// Outbound reports whether b is an RFC 5626 binding, identified by its
// instance-id and reg-id rather than by its Contact URI.
func (b *Binding) Outbound() bool { return b.InstanceID != "" && b.RegID != 0 }

// Same reports whether b and o are the same binding: both carry the same
// instance-id and reg-id (RFC 5626 §6), or, when neither is an
// outbound binding, their Contact URIs are equal under §19.1.4 (RFC 3261
// §10.3 step 7).
func (b *Binding) Same(o *Binding) bool {
	if b.Outbound() || o.Outbound() {
		return b.InstanceID == o.InstanceID && b.RegID == o.RegID
	}
	return b.Contact.URI.Equal(&o.Contact.URI)
}

// Live reports whether b has not yet expired at now.
func (b *Binding) Live(now time.Time) bool { return b.Expires.After(now) }

// equal reports whether every field of b and o is the same.
func (b *Binding) equal(o *Binding) bool {
	return b.AoR == o.AoR && b.Contact.String() == o.Contact.String() &&
		b.Expires.Equal(o.Expires) && b.Q == o.Q && b.CallID == o.CallID &&
		b.CSeq == o.CSeq && slices.Equal(b.Path, o.Path) &&
		b.InstanceID == o.InstanceID && b.RegID == o.RegID &&
		b.Received == o.Received && b.Flow == o.Flow && b.Node == o.Node &&
		b.Updated.Equal(o.Updated)
}

// compact returns b with its own copies of every string, so that a stored
// binding does not keep a received message's buffer alive, with the
// Contact URI in a single allocation and times without monotonic readings.
func (b Binding) compact(aor string) Binding {
	b.AoR = aor
	c := b.Contact
	if !c.Star {
		if u, err := sip.ParseURI(c.URI.String()); err == nil {
			c.URI = u
		}
	}
	c.Display = strings.Clone(c.Display)
	c.Params = sip.Params(strings.Clone(string(c.Params)))
	b.Contact = c
	b.CallID = strings.Clone(b.CallID)
	b.InstanceID = strings.Clone(b.InstanceID)
	b.Node = strings.Clone(b.Node)
	if len(b.Path) == 0 {
		b.Path = nil
	} else {
		p := make([]string, len(b.Path))
		for i, s := range b.Path {
			p[i] = strings.Clone(s)
		}
		b.Path = p
	}
	b.Expires = b.Expires.Round(0).UTC()
	b.Updated = b.Updated.Round(0).UTC()
	return b
}

// clone returns a copy of b that shares no mutable memory with it.
func (b Binding) clone() Binding {
	b.Path = slices.Clone(b.Path)
	return b
}

// Record is the set of bindings of one address-of-record.
type Record struct {
	// AoR is the canonical address-of-record.
	AoR string
	// Bindings are the live bindings, in the order the last update left
	// them.
	Bindings []Binding
	// Version counts the writes to the record since it was created; it is
	// 0 for a record that does not exist. Changes carry the version they
	// produced, so that a consumer can order them.
	Version uint64
}

// Index returns the index in r.Bindings of the binding that is the same
// as b (see [Binding.Same]), or -1.
func (r *Record) Index(b *Binding) int {
	for i := range r.Bindings {
		if r.Bindings[i].Same(b) {
			return i
		}
	}
	return -1
}

// clone returns a deep copy of r.
func (r Record) clone() Record {
	if r.Bindings != nil {
		bs := make([]Binding, len(r.Bindings))
		for i := range r.Bindings {
			bs[i] = r.Bindings[i].clone()
		}
		r.Bindings = bs
	}
	return r
}

// live returns the bindings of bs that are live at now, in a new slice of
// deep copies.
func live(bs []Binding, now time.Time) []Binding {
	var out []Binding
	for i := range bs {
		if bs[i].Live(now) {
			out = append(out, bs[i].clone())
		}
	}
	return out
}

// ErrNotSIP is returned by [CanonicalAoR] for a URI that is not a sip or
// sips URI.
var ErrNotSIP = errors.New("location: address-of-record must be a sip or sips URI")

// CanonicalAoR returns the canonical form of an address-of-record used as
// the key of its record (RFC 3261 §10.3 step 5): the scheme, the user part
// with escapes resolved, and the host (lower-cased) and port; URI
// parameters and headers are removed.
func CanonicalAoR(u sip.URI) (string, error) {
	if !u.IsSIP() {
		return "", ErrNotSIP
	}
	v := sip.URI{
		Scheme: strings.ToLower(u.Scheme),
		User:   u.UserUnescaped(),
		Host:   strings.ToLower(u.Host),
		Port:   u.Port,
	}
	return v.String(), nil
}

// scanner walks every stored record (the Bolt and Redis stores' scan).
type scanner func(ctx context.Context, fn func(aor string, version uint64, bs []Binding) bool) error

// rangeLive implements Store.Range over a scanner: records with live
// bindings only.
func rangeLive(ctx context.Context, scan scanner, now time.Time, fn func(Record) bool) error {
	return scan(ctx, func(aor string, version uint64, bs []Binding) bool {
		if bs = live(bs, now); len(bs) == 0 {
			return true
		}
		return fn(Record{AoR: aor, Bindings: bs, Version: version})
	})
}

// dueAoRs lists the records holding a binding expired at now.
func dueAoRs(ctx context.Context, scan scanner, now time.Time) ([]string, error) {
	var due []string
	err := scan(ctx, func(aor string, _ uint64, bs []Binding) bool {
		if !allLive(bs, now) {
			due = append(due, aor)
		}
		return true
	})
	return due, err
}
