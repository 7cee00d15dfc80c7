package sdp

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Session is a session description: the session-level section of RFC 8866
// §5 followed by zero or more media descriptions.
//
// A string field that is empty stands for an absent optional line; a nil
// slice stands for absent repeated lines. Parse never returns empty non-nil
// slices.
type Session struct {
	// Version is the protocol version from the v= line; it is always 0.
	Version int
	// Origin is the o= line (§5.2).
	Origin Origin
	// Name is the session name from the s= line (§5.3). It is never empty
	// in a parsed description; "-" or " " stand for "no name".
	Name string
	// Info is the session-level i= line (§5.4), or "" if absent.
	Info string
	// URI is the u= line (§5.5), or "" if absent.
	URI string
	// Emails holds the e= lines (§5.6), verbatim.
	Emails []string
	// Phones holds the p= lines (§5.6), verbatim.
	Phones []string
	// Connection is the session-level c= line (§5.7), or nil if absent.
	Connection *Connection
	// Bandwidths holds the session-level b= lines (§5.8).
	Bandwidths []Bandwidth
	// Times holds the t= lines (§5.9) with their r= lines (§5.10). A valid
	// description has at least one.
	Times []Timing
	// ZoneAdjust is the z= line (§5.11) verbatim, or "" if absent.
	ZoneAdjust string
	// Key is the obsolete session-level k= line (§5.12) verbatim, or "" if
	// absent.
	Key string
	// Attributes holds the session-level a= lines (§5.13) in order.
	Attributes []Attribute
	// Media holds the media descriptions (§5.14) in order.
	Media []Media
}

// Origin is the o= line (RFC 8866 §5.2).
type Origin struct {
	// Username is the user's login on the originating host, or "-".
	Username string
	// SessionID is the numeric session identifier.
	SessionID uint64
	// SessionVersion is the version of this session description.
	SessionVersion uint64
	// NetType is the network type, normally "IN".
	NetType string
	// AddrType is the address type, normally "IP4" or "IP6".
	AddrType string
	// Address is the unicast address or domain name of the originating host.
	Address string
}

// Addr returns the origin's address as an IP address. It reports false when
// Address is not a literal IP address of the family named by AddrType ("IP4"
// or "IP6"), for example when it is a fully qualified domain name.
func (o *Origin) Addr() (netip.Addr, bool) {
	return parseIP(o.AddrType, o.Address)
}

// Connection is a c= line (RFC 8866 §5.7).
//
// For address type "IP4", a multicast Address carries a TTL (0-255) and an
// optional number of addresses, written "224.2.1.1/127/3". For address type
// "IP6", a multicast Address carries an optional number of addresses, written
// "ff00::db8:0:101/3". Unicast addresses and domain names carry neither.
type Connection struct {
	// NetType is the network type, normally "IN".
	NetType string
	// AddrType is the address type, normally "IP4" or "IP6".
	AddrType string
	// Address is the base address, without any "/ttl" or "/num" suffix. It
	// may be a domain name.
	Address string
	// TTL is the multicast time to live. It is meaningful, and always
	// encoded, only for an IPv4 multicast Address.
	TTL int
	// NumAddrs is the number of contiguous multicast addresses, or 0 if the
	// suffix is absent (meaning one).
	NumAddrs int
}

// Addr returns the connection's base address as an IP address. It reports
// false when Address is not a literal IP address of the family named by
// AddrType ("IP4" or "IP6"), for example when it is a fully qualified domain
// name.
func (c *Connection) Addr() (netip.Addr, bool) {
	return parseIP(c.AddrType, c.Address)
}

// parseIP parses address as an IP address of the family named by addrType.
func parseIP(addrType, address string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(address)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	switch addrType {
	case "IP4":
		if a.Is4() {
			return a, true
		}
	case "IP6":
		if a.Is6() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Bandwidth is a b= line (RFC 8866 §5.8), such as "b=AS:64".
type Bandwidth struct {
	// Type is the bandwidth type, such as "CT" or "AS".
	Type string
	// Value is the bandwidth, in kilobits per second for CT and AS.
	Value uint64
}

// Timing is a t= line (RFC 8866 §5.9) with the r= lines that follow it.
type Timing struct {
	// Start and Stop are times in seconds since 1900-01-01 UTC, or 0.
	Start, Stop uint64
	// Repeats holds the values of the r= lines (§5.10) verbatim.
	Repeats []string
}

// Attribute is an a= line (RFC 8866 §5.13). A property attribute such as
// "a=recvonly" has HasValue false; a value attribute such as
// "a=orient:landscape" has HasValue true and the text after the first ":" as
// Value. Parse also accepts "a=name:" with an empty value (HasValue true,
// Value ""). Encoding writes the ":" when HasValue is true or Value is not
// empty.
type Attribute struct {
	// Key is the attribute name.
	Key string
	// Value is the attribute value; it is "" for a property attribute.
	Value string
	// HasValue reports whether the attribute was written with a ":".
	HasValue bool
}

// Media is a media description (RFC 8866 §5.14): an m= line and the i=, c=,
// b=, k= and a= lines that follow it.
type Media struct {
	// Type is the media type, such as "audio" or "video".
	Type string
	// Port is the transport port, 0-65535.
	Port int
	// NumPorts is the number of ports from the "port/number" form, or 0 if
	// that form is not used.
	NumPorts int
	// Proto is the transport protocol, such as "RTP/AVP".
	Proto string
	// Formats holds the media formats, such as RTP payload type numbers, in
	// order of preference. A valid description has at least one.
	Formats []string
	// Info is the media-level i= line, or "" if absent.
	Info string
	// Connections holds the media-level c= lines.
	Connections []Connection
	// Bandwidths holds the media-level b= lines.
	Bandwidths []Bandwidth
	// Key is the obsolete media-level k= line verbatim, or "" if absent.
	Key string
	// Attributes holds the media-level a= lines in order.
	Attributes []Attribute
}

// Attribute returns the value of the first session-level attribute named key
// and whether there is one. A property attribute yields "".
func (s *Session) Attribute(key string) (string, bool) {
	return lookup(s.Attributes, key)
}

// Attribute returns the value of the first attribute of m named key and
// whether there is one. A property attribute yields "". It does not consult
// the session-level attributes.
func (m *Media) Attribute(key string) (string, bool) {
	return lookup(m.Attributes, key)
}

func lookup(attrs []Attribute, key string) (string, bool) {
	for i := range attrs {
		if attrs[i].Key == key {
			return attrs[i].Value, true
		}
	}
	return "", false
}

// MediaConnection returns the connection data that applies to m: its first
// media-level c= line if it has one, and the session-level c= line otherwise.
// It returns nil if there is neither.
func (s *Session) MediaConnection(m *Media) *Connection {
	if len(m.Connections) > 0 {
		return &m.Connections[0]
	}
	return s.Connection
}

// Direction is a media direction attribute (RFC 8866 §6.7). The zero value
// is SendRecv, the default when no direction attribute is present.
type Direction uint8

// The media directions of RFC 8866 §6.7.
const (
	SendRecv Direction = iota // a=sendrecv
	SendOnly                  // a=sendonly
	RecvOnly                  // a=recvonly
	Inactive                  // a=inactive
)

var directionNames = [...]string{
	SendRecv: "sendrecv",
	SendOnly: "sendonly",
	RecvOnly: "recvonly",
	Inactive: "inactive",
}

// String returns the attribute name of d, such as "sendonly".
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// direction returns the first direction attribute in attrs.
func direction(attrs []Attribute) (Direction, bool) {
	for i := range attrs {
		if d, ok := directionByName(attrs[i].Key); ok {
			return d, true
		}
	}
	return SendRecv, false
}

func directionByName(name string) (Direction, bool) {
	for d, n := range directionNames {
		if n == name {
			return Direction(d), true
		}
	}
	return 0, false
}

// setDirection replaces the first direction attribute in attrs with d,
// removes any others, and appends d if there was none.
func setDirection(attrs []Attribute, d Direction) []Attribute {
	if int(d) >= len(directionNames) {
		panic("sdp: invalid Direction " + d.String())
	}
	a := Attribute{Key: directionNames[d]}
	out := attrs[:0]
	found := false
	for _, x := range attrs {
		if _, ok := directionByName(x.Key); ok {
			if found {
				continue
			}
			found = true
			x = a
		}
		out = append(out, x)
	}
	clear(attrs[len(out):])
	if !found {
		out = append(out, a)
	}
	return out
}

// Direction returns the session-level media direction: the first of
// a=sendrecv, a=sendonly, a=recvonly or a=inactive among the session
// attributes, or SendRecv if there is none.
func (s *Session) Direction() Direction {
	d, _ := direction(s.Attributes)
	return d
}

// SetDirection sets the session-level direction attribute to d, replacing
// any existing one. It panics if d is not one of the four defined values.
func (s *Session) SetDirection(d Direction) {
	s.Attributes = setDirection(s.Attributes, d)
}

// Direction returns the media-level direction attribute of m and whether m
// has one. When it has none, the session-level direction applies; see
// [Session.MediaDirection].
func (m *Media) Direction() (Direction, bool) {
	return direction(m.Attributes)
}

// SetDirection sets the direction attribute of m to d, replacing any
// existing one. It panics if d is not one of the four defined values.
func (m *Media) SetDirection(d Direction) {
	m.Attributes = setDirection(m.Attributes, d)
}

// MediaDirection returns the direction that applies to m (RFC 8866 §6.7):
// its own direction attribute if it has one, else the session-level one,
// else SendRecv.
func (s *Session) MediaDirection(m *Media) Direction {
	if d, ok := m.Direction(); ok {
		return d
	}
	return s.Direction()
}

// RTPMap is the value of an a=rtpmap attribute (RFC 8866 §6.6), such as
// "96 opus/48000/2".
type RTPMap struct {
	// PayloadType is the RTP payload type number.
	PayloadType int
	// Encoding is the encoding name, such as "PCMU" or "telephone-event".
	Encoding string
	// ClockRate is the RTP clock rate in Hz.
	ClockRate int
	// Channels is the encoding parameter (the number of audio channels), or
	// 0 if it is omitted, which for audio means one channel.
	Channels int
}

// String returns r in a=rtpmap value syntax, such as "0 PCMU/8000".
func (r RTPMap) String() string {
	b := strconv.AppendInt(nil, int64(r.PayloadType), 10)
	b = append(b, ' ')
	b = append(b, r.Encoding...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(r.ClockRate), 10)
	if r.Channels != 0 {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(r.Channels), 10)
	}
	return string(b)
}

// RTPMap returns the a=rtpmap attribute of m for payload type pt. It reports
// false if there is none or if it is malformed. Static payload types (RFC
// 3551) without an rtpmap attribute are not filled in.
func (m *Media) RTPMap(pt int) (RTPMap, bool) {
	v, ok := formatAttr(m.Attributes, "rtpmap", pt)
	if !ok {
		return RTPMap{}, false
	}
	enc, rest, ok := strings.Cut(v, "/")
	if !ok || !isToken(enc) {
		return RTPMap{}, false
	}
	rate, chans, hasChans := strings.Cut(rest, "/")
	r := RTPMap{PayloadType: pt, Encoding: enc}
	if r.ClockRate, ok = parseInteger(rate); !ok {
		return RTPMap{}, false
	}
	if hasChans {
		if r.Channels, ok = parseInteger(chans); !ok {
			return RTPMap{}, false
		}
	}
	return r, true
}

// Fmtp returns the format-specific parameters of the a=fmtp attribute of m
// for payload type pt (RFC 8866 §6.15), such as "0-16" for
// "a=fmtp:101 0-16", and whether there is such an attribute.
func (m *Media) Fmtp(pt int) (string, bool) {
	return formatAttr(m.Attributes, "fmtp", pt)
}

// formatAttr finds the attribute key whose value is "<pt>" or "<pt> <rest>"
// and returns rest.
func formatAttr(attrs []Attribute, key string, pt int) (string, bool) {
	if pt < 0 {
		return "", false
	}
	for i := range attrs {
		a := &attrs[i]
		if a.Key != key || !a.HasValue {
			continue
		}
		f, rest, _ := strings.Cut(a.Value, " ")
		if n, ok := parseUint(f); ok && n == uint64(pt) {
			return rest, true
		}
	}
	return "", false
}

// PTime returns the packet time from the a=ptime attribute of m (RFC 8866
// §6.4). Fractional milliseconds such as "a=ptime:22.5" are allowed. It
// reports false if the attribute is absent, malformed or zero.
func (m *Media) PTime() (time.Duration, bool) {
	v, ok := m.Attribute("ptime")
	if !ok {
		return 0, false
	}
	return parseMillis(v)
}

// MaxPTime returns the maximum packet time from the a=maxptime attribute of
// m (RFC 8866 §6.5), like [Media.PTime].
func (m *Media) MaxPTime() (time.Duration, bool) {
	v, ok := m.Attribute("maxptime")
	if !ok {
		return 0, false
	}
	return parseMillis(v)
}

// parseMillis parses a positive decimal number of milliseconds, with an
// optional fraction, to nanosecond precision.
func parseMillis(v string) (time.Duration, bool) {
	whole, frac, hasDot := strings.Cut(v, ".")
	ms, ok := parseUint(whole)
	if !ok || ms > uint64(maxDuration/time.Millisecond)-1 {
		return 0, false
	}
	if hasDot && (frac == "" || !isDigits(frac)) {
		return 0, false
	}
	d := time.Duration(ms) * time.Millisecond
	scale := time.Millisecond / 10
	for i := 0; i < len(frac) && scale > 0; i++ {
		d += time.Duration(frac[i]-'0') * scale
		scale /= 10
	}
	if d <= 0 {
		return 0, false
	}
	return d, true
}

const maxDuration = time.Duration(1<<63 - 1)
