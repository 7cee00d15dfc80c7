package sdp

import (
	"slices"
	"strconv"
)

// AppendTo appends the encoding of s to b and returns the extended buffer.
// Lines end in CRLF and appear in the order of RFC 8866 §5; empty optional
// string fields and nil pointers are omitted.
//
// AppendTo writes the fields as they are and does not validate them: a
// Session that Parse returned encodes to a valid description, but one built
// by hand must have a non-empty Name, at least one Timing, and no CR, LF or
// NUL in any field. An Attribute is written with a ":" if HasValue is true
// or Value is not empty.
func (s *Session) AppendTo(b []byte) []byte {
	b = slices.Grow(b, s.Len())
	w := writer{b: b}
	s.encode(&w)
	return w.b
}

// Len returns the length of the encoding of s, len(s.AppendTo(nil)).
func (s *Session) Len() int {
	w := writer{count: true}
	s.encode(&w)
	return w.n
}

// String returns the encoding of s.
func (s *Session) String() string {
	return string(s.AppendTo(nil))
}

// writer either appends to b or, if count is set, only counts into n, so
// that Len and AppendTo share one encoder.
type writer struct {
	b     []byte
	n     int
	count bool
}

func (w *writer) str(s string) {
	if w.count {
		w.n += len(s)
		return
	}
	w.b = append(w.b, s...)
}

func (w *writer) char(c byte) {
	if w.count {
		w.n++
		return
	}
	w.b = append(w.b, c)
}

func (w *writer) uint(u uint64) {
	if w.count {
		var buf [20]byte
		w.n += len(strconv.AppendUint(buf[:0], u, 10))
		return
	}
	w.b = strconv.AppendUint(w.b, u, 10)
}

func (w *writer) int(i int) {
	if w.count {
		var buf [20]byte
		w.n += len(strconv.AppendInt(buf[:0], int64(i), 10))
		return
	}
	w.b = strconv.AppendInt(w.b, int64(i), 10)
}

// start writes "t=".
func (w *writer) start(t byte) {
	if w.count {
		w.n += 2
		return
	}
	w.b = append(w.b, t, '=')
}

func (w *writer) crlf() { w.str("\r\n") }

// line writes "t=v\r\n".
func (w *writer) line(t byte, v string) {
	w.start(t)
	w.str(v)
	w.crlf()
}

// optional writes "t=v\r\n" if v is not empty.
func (w *writer) optional(t byte, v string) {
	if v != "" {
		w.line(t, v)
	}
}

func (s *Session) encode(w *writer) {
	w.start('v')
	w.int(s.Version)
	w.crlf()

	o := &s.Origin
	w.start('o')
	w.str(o.Username)
	w.char(' ')
	w.uint(o.SessionID)
	w.char(' ')
	w.uint(o.SessionVersion)
	w.char(' ')
	w.str(o.NetType)
	w.char(' ')
	w.str(o.AddrType)
	w.char(' ')
	w.str(o.Address)
	w.crlf()

	w.line('s', s.Name)
	w.optional('i', s.Info)
	w.optional('u', s.URI)
	for _, e := range s.Emails {
		w.line('e', e)
	}
	for _, p := range s.Phones {
		w.line('p', p)
	}
	if s.Connection != nil {
		w.connection(s.Connection)
	}
	w.bandwidths(s.Bandwidths)
	for i := range s.Times {
		t := &s.Times[i]
		w.start('t')
		w.uint(t.Start)
		w.char(' ')
		w.uint(t.Stop)
		w.crlf()
		for _, r := range t.Repeats {
			w.line('r', r)
		}
	}
	w.optional('z', s.ZoneAdjust)
	w.optional('k', s.Key)
	w.attributes(s.Attributes)

	for i := range s.Media {
		m := &s.Media[i]
		w.start('m')
		w.str(m.Type)
		w.char(' ')
		w.int(m.Port)
		if m.NumPorts != 0 {
			w.char('/')
			w.int(m.NumPorts)
		}
		w.char(' ')
		w.str(m.Proto)
		for _, f := range m.Formats {
			w.char(' ')
			w.str(f)
		}
		w.crlf()
		w.optional('i', m.Info)
		for j := range m.Connections {
			w.connection(&m.Connections[j])
		}
		w.bandwidths(m.Bandwidths)
		w.optional('k', m.Key)
		w.attributes(m.Attributes)
	}
}

// connection writes a c= line. The "/ttl" suffix is written for an IPv4
// multicast address (where RFC 8866 §5.7 requires it) or when TTL or
// NumAddrs is set; "/num" is written when NumAddrs is set.
func (w *writer) connection(c *Connection) {
	w.start('c')
	w.str(c.NetType)
	w.char(' ')
	w.str(c.AddrType)
	w.char(' ')
	w.str(c.Address)
	switch c.AddrType {
	case "IP4":
		if c.TTL != 0 || c.NumAddrs != 0 || isIP4Multicast(c.Address) {
			w.char('/')
			w.int(c.TTL)
			if c.NumAddrs != 0 {
				w.char('/')
				w.int(c.NumAddrs)
			}
		}
	case "IP6":
		if c.NumAddrs != 0 {
			w.char('/')
			w.int(c.NumAddrs)
		}
	}
	w.crlf()
}

func (w *writer) bandwidths(bs []Bandwidth) {
	for _, b := range bs {
		w.start('b')
		w.str(b.Type)
		w.char(':')
		w.uint(b.Value)
		w.crlf()
	}
}

func (w *writer) attributes(as []Attribute) {
	for i := range as {
		a := &as[i]
		w.start('a')
		w.str(a.Key)
		if a.HasValue || a.Value != "" {
			w.char(':')
			w.str(a.Value)
		}
		w.crlf()
	}
}
