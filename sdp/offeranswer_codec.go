package sdp

import (
	"strconv"
	"strings"
)

// Codec is an RTP media format of a media description: a payload type
// number with its encoding (RFC 8866 §6.6 rtpmap, RFC 3551 §6 for the static
// payload types) and its format-specific parameters (RFC 8866 §6.15 fmtp).
type Codec struct {
	// PayloadType is the RTP payload type number, 0-127.
	PayloadType int
	// Name is the encoding name, such as "PCMU" or "telephone-event". It
	// is "" for a dynamic payload type that has no rtpmap attribute.
	Name string
	// ClockRate is the RTP clock rate in Hz.
	ClockRate int
	// Channels is the number of audio channels, or 0 if unspecified,
	// which for audio means one channel.
	Channels int
	// Fmtp holds the format-specific parameters, such as "0-16", or "".
	Fmtp string
}

// RTPMap returns c as an a=rtpmap value.
func (c Codec) RTPMap() RTPMap {
	return RTPMap{PayloadType: c.PayloadType, Encoding: c.Name, ClockRate: c.ClockRate, Channels: c.Channels}
}

// String returns c in a=rtpmap value syntax, such as "8 PCMA/8000".
func (c Codec) String() string {
	return c.RTPMap().String()
}

// Matches reports whether c and d name the same encoding: the same name,
// compared case-insensitively as media subtype names are, the same clock
// rate and the same number of channels, where 0 and 1 are equal. Payload
// type numbers and fmtp parameters are not compared, since RFC 3264 §6.1
// and §8.3.2 let the two sides use different numbers for one codec. A codec
// without a name matches nothing.
func (c Codec) Matches(d Codec) bool {
	if c.Name == "" || d.Name == "" {
		return false
	}
	return strings.EqualFold(c.Name, d.Name) && c.ClockRate == d.ClockRate &&
		max(c.Channels, 1) == max(d.Channels, 1)
}

// auxiliary reports whether c only complements a media codec and cannot
// carry a stream alone: DTMF events (RFC 4733) and comfort noise (RFC 3389).
func (c Codec) auxiliary() bool {
	return strings.EqualFold(c.Name, "telephone-event") || strings.EqualFold(c.Name, "CN")
}

// staticCodecs are the static payload types of RFC 3551 §6, Tables 4 and 5.
var staticCodecs = map[int]Codec{
	0:  {Name: "PCMU", ClockRate: 8000},
	3:  {Name: "GSM", ClockRate: 8000},
	4:  {Name: "G723", ClockRate: 8000},
	5:  {Name: "DVI4", ClockRate: 8000},
	6:  {Name: "DVI4", ClockRate: 16000},
	7:  {Name: "LPC", ClockRate: 8000},
	8:  {Name: "PCMA", ClockRate: 8000},
	9:  {Name: "G722", ClockRate: 8000},
	10: {Name: "L16", ClockRate: 44100, Channels: 2},
	11: {Name: "L16", ClockRate: 44100},
	12: {Name: "QCELP", ClockRate: 8000},
	13: {Name: "CN", ClockRate: 8000},
	14: {Name: "MPA", ClockRate: 90000},
	15: {Name: "G728", ClockRate: 8000},
	16: {Name: "DVI4", ClockRate: 11025},
	17: {Name: "DVI4", ClockRate: 22050},
	18: {Name: "G729", ClockRate: 8000},
	25: {Name: "CelB", ClockRate: 90000},
	26: {Name: "JPEG", ClockRate: 90000},
	28: {Name: "nv", ClockRate: 90000},
	31: {Name: "H261", ClockRate: 90000},
	32: {Name: "MPV", ClockRate: 90000},
	33: {Name: "MP2T", ClockRate: 90000},
	34: {Name: "H263", ClockRate: 90000},
}

// StaticCodec returns the codec RFC 3551 §6 (Tables 4 and 5) assigns to the
// static payload type pt, such as PCMU/8000 for 0 and G729/8000 for 18, and
// whether pt is one. Channels is 2 for payload type 10 and 0 (meaning one)
// otherwise; Fmtp is empty.
func StaticCodec(pt int) (Codec, bool) {
	c, ok := staticCodecs[pt]
	c.PayloadType = pt
	return c, ok
}

// Codecs returns the RTP media formats of m in the order of the m= line
// (RFC 8866 §5.14), each with its a=rtpmap encoding or, for a static payload
// type without one, the encoding of RFC 3551 §6, and its a=fmtp parameters.
// A dynamic payload type without an rtpmap attribute is returned with an
// empty Name. Formats that are not payload type numbers 0-127, as used by
// non-RTP transports, are left out.
func (m *Media) Codecs() []Codec {
	var cs []Codec
	for _, f := range m.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 || !isDigits(f) {
			continue
		}
		var c Codec
		if r, ok := m.RTPMap(pt); ok {
			c = Codec{PayloadType: pt, Name: r.Encoding, ClockRate: r.ClockRate, Channels: r.Channels}
		} else {
			c, _ = StaticCodec(pt)
			c.PayloadType = pt
		}
		c.Fmtp, _ = m.Fmtp(pt)
		cs = append(cs, c)
	}
	return cs
}
