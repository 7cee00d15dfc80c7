package sip

import (
	"bytes"
	"fmt"
	"reflect"
)

// sameMessage reports how a and b differ as parsed messages: start line,
// header fields (canonical name and value, in order; a Content-Length that
// only one side has is ignored, since encoding adds it), typed values and
// body. It returns nil when they are equal.
func sameMessage(a, b Message) error {
	switch x := a.(type) {
	case *Request:
		y, ok := b.(*Request)
		if !ok {
			return fmt.Errorf("request became %T", b)
		}
		if x.Method != y.Method {
			return fmt.Errorf("method %q != %q", x.Method, y.Method)
		}
		if x.URI != y.URI {
			return fmt.Errorf("Request-URI %+v != %+v", x.URI, y.URI)
		}
	case *Response:
		y, ok := b.(*Response)
		if !ok {
			return fmt.Errorf("response became %T", b)
		}
		if x.StatusCode != y.StatusCode || x.Reason != y.Reason {
			return fmt.Errorf("status %d %q != %d %q", x.StatusCode, x.Reason, y.StatusCode, y.Reason)
		}
	}
	ha, hb := a.Headers(), b.Headers()
	fa, fb := fieldList(ha), fieldList(hb)
	_, clA := ha.ContentLength()
	_, clB := hb.ContentLength()
	if clA != clB {
		fa, fb = dropCL(fa), dropCL(fb)
	}
	if !reflect.DeepEqual(fa, fb) {
		return fmt.Errorf("fields differ:\n%q\n%q", fa, fb)
	}
	if !reflect.DeepEqual(ha.via, hb.via) && !(len(ha.via) == 0 && len(hb.via) == 0) {
		return fmt.Errorf("Via %+v != %+v", ha.via, hb.via)
	}
	for _, p := range [][2]any{
		{ha.From(), hb.From()}, {ha.To(), hb.To()}, {ha.callID, hb.callID}, {ha.cseq, hb.cseq},
		{ha.maxForwards, hb.maxForwards}, {ha.contentType, hb.contentType},
		{len(ha.route), len(hb.route)}, {len(ha.rr), len(hb.rr)}, {len(ha.Contacts()), len(hb.Contacts())},
	} {
		if !reflect.DeepEqual(p[0], p[1]) {
			return fmt.Errorf("typed value %+v != %+v", p[0], p[1])
		}
	}
	for i := range ha.route {
		if !reflect.DeepEqual(ha.route[i], hb.route[i]) {
			return fmt.Errorf("Route %d: %+v != %+v", i, ha.route[i], hb.route[i])
		}
	}
	for i := range ha.rr {
		if !reflect.DeepEqual(ha.rr[i], hb.rr[i]) {
			return fmt.Errorf("Record-Route %d differs", i)
		}
	}
	for i, c := range ha.Contacts() {
		if d := hb.Contacts()[i]; !reflect.DeepEqual(c, d) {
			return fmt.Errorf("Contact %d: %+v != %+v", i, c, d)
		}
	}
	if !bytes.Equal(a.Payload(), b.Payload()) {
		return fmt.Errorf("body %q != %q", a.Payload(), b.Payload())
	}
	return nil
}

func fieldList(h *Header) [][2]string {
	var out [][2]string
	for n, v := range h.All() {
		out = append(out, [2]string{n, v})
	}
	return out
}

func dropCL(f [][2]string) [][2]string {
	var out [][2]string
	for _, x := range f {
		if x[0] != string(HeaderContentLength) {
			out = append(out, x)
		}
	}
	return out
}

// roundTrip checks the encoding invariants of a parsed message: Len
// matches AppendTo, the encoding parses to an equal message and is a fixed
// point, and the canonical form parses to an equal message too.
func roundTrip(m Message) error {
	b1 := m.AppendTo(nil)
	if len(b1) != m.Len() {
		return fmt.Errorf("Len() = %d, len(AppendTo) = %d", m.Len(), len(b1))
	}
	m2, err := Parse(b1)
	if err != nil {
		return fmt.Errorf("re-parse: %v\n%s", err, b1)
	}
	if err := sameMessage(m, m2); err != nil {
		return fmt.Errorf("re-parsed message differs: %v", err)
	}
	if b2 := m2.AppendTo(nil); !bytes.Equal(b1, b2) {
		return fmt.Errorf("encoding is not a fixed point:\n%q\n%q", b1, b2)
	}
	c := AppendCanonical(nil, m)
	m3, err := Parse(c)
	if err != nil {
		return fmt.Errorf("re-parse canonical: %v\n%s", err, c)
	}
	if c2 := AppendCanonical(nil, m3); !bytes.Equal(c, c2) {
		return fmt.Errorf("canonical encoding is not a fixed point:\n%q\n%q", c, c2)
	}
	if err := sameMeaning(m, m3); err != nil {
		return fmt.Errorf("canonical message means something else: %v", err)
	}
	return nil
}

// sameMeaning compares what canonicalisation must keep: the values the
// transaction and dialog layers read, and the body.
func sameMeaning(a, b Message) error {
	ha, hb := a.Headers(), b.Headers()
	if len(ha.via) != len(hb.via) {
		return fmt.Errorf("%d Vias, then %d", len(ha.via), len(hb.via))
	}
	for i := range ha.via {
		x, y := &ha.via[i], &hb.via[i]
		if x.Branch() != y.Branch() || x.Host != y.Host || x.Port != y.Port || x.Transport != y.Transport {
			return fmt.Errorf("Via %d: %v then %v", i, x, y)
		}
	}
	ca, _ := ha.CSeq()
	cb, _ := hb.CSeq()
	if ha.callID != hb.callID || ca != cb {
		return fmt.Errorf("Call-ID/CSeq differ")
	}
	for _, p := range [][2]*NameAddr{{ha.From(), hb.From()}, {ha.To(), hb.To()}} {
		if (p[0] == nil) != (p[1] == nil) || p[0] != nil && (p[0].Tag() != p[1].Tag() || !p[0].URI.Equal(&p[1].URI)) {
			return fmt.Errorf("From/To differ: %v then %v", p[0], p[1])
		}
	}
	if len(ha.Contacts()) != len(hb.Contacts()) || len(ha.route) != len(hb.route) || len(ha.rr) != len(hb.rr) {
		return fmt.Errorf("Contact/Route/Record-Route counts differ")
	}
	if len(ha.fields) != len(hb.fields) && len(ha.fields)+1 != len(hb.fields) {
		return fmt.Errorf("%d fields, then %d", len(ha.fields), len(hb.fields))
	}
	if !bytes.Equal(a.Payload(), b.Payload()) {
		return fmt.Errorf("body %q != %q", a.Payload(), b.Payload())
	}
	return nil
}
