package sdp

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Capabilities describes what the local agent can do, for building offers
// (RFC 3264 §5) and answers (RFC 3264 §6).
type Capabilities struct {
	// Username is the o= user name (RFC 8866 §5.2); "" stands for "-".
	Username string
	// SessionID is the o= session id. If it is 0, NewOffer and Answer
	// pick a random one.
	SessionID uint64
	// SessionVersion is the o= version of the first description built.
	// Later descriptions of the same session increment it (RFC 3264 §8);
	// see Session.Reoffer and Negotiation.Answer.
	SessionVersion uint64
	// Address is the local media address, written in the o= and c= lines.
	// If it is not valid, the description carries 0.0.0.0, which RFC 3264
	// §8.4 allows when the address is not yet known: the peer then sends
	// neither RTP nor RTCP.
	Address netip.Addr
	// Ports returns the local port to receive a new stream of the given
	// media type on. It is called once for each stream offered or accepted,
	// in m= line order, so that it can hand out distinct ports. A result of
	// 0 or less, or a nil Ports, rejects (in an answer) or disables (in an
	// offer) the stream with port 0.
	Ports func(mediaType string) int
	// Direction is the local preference for every stream (RFC 3264 §5.1,
	// §6.1); the zero value is SendRecv.
	Direction Direction
	// Media lists the supported media types. NewOffer offers one stream
	// for each, in order; Answer accepts an offered stream only if its
	// media type and transport protocol are listed here.
	Media []MediaCapability
	// LocalOrder makes Answer list the common codecs in the order of
	// MediaCapability.Codecs instead of the offer's order, which RFC 3264
	// §6.1 recommends by default.
	LocalOrder bool
}

// MediaCapability describes a supported media type.
type MediaCapability struct {
	// Type is the media type, such as "audio" or "video".
	Type string
	// Proto is the transport protocol; "" stands for "RTP/AVP".
	Proto string
	// Codecs lists the supported codecs in order of preference. In an offer
	// they are listed with their PayloadType numbers; Answer matches them
	// by encoding (Codec.Matches) and uses the offer's numbers.
	Codecs []Codec
	// PTime is the packetization interval the local agent wants to
	// receive (a=ptime, RFC 3264 §5.1 and §6.1), or 0 for none.
	PTime time.Duration
	// MaxPTime is the longest packetization interval the local agent can
	// receive, or 0 for no limit. Answer copies an offered ptime that does
	// not exceed it and uses PTime otherwise.
	MaxPTime time.Duration
}

func (mc *MediaCapability) proto() string {
	if mc.Proto == "" {
		return "RTP/AVP"
	}
	return mc.Proto
}

// Errors of the offer/answer model.
var (
	// ErrNoCommonMedia reports an offer none of whose streams could be
	// accepted: RFC 3264 §6.1 rejects the whole session, which SIP answers
	// with 488 (Not Acceptable Here).
	ErrNoCommonMedia = errors.New("sdp: no media in common with the offer")
)

// OfferAnswerError reports a session description that breaks a rule of
// RFC 3264, such as an answer whose number of m= lines differs from the
// offer's (§6). In SIP, a received description with such an error is
// answered with 488 (Not Acceptable Here) or, for an answer, by ending or
// renegotiating the session.
type OfferAnswerError struct {
	// Media is the 0-based index of the offending m= line, or -1 when the
	// error concerns the whole description.
	Media int
	// Reason describes the error.
	Reason string
}

// Error returns the error as "sdp: m= line N: reason" or "sdp: reason".
func (e *OfferAnswerError) Error() string {
	if e.Media < 0 {
		return "sdp: " + e.Reason
	}
	return "sdp: m= line " + strconv.Itoa(e.Media+1) + ": " + e.Reason
}

func oaErr(i int, reason string) error {
	return &OfferAnswerError{Media: i, Reason: reason}
}

// NewOffer builds an initial offer (RFC 3264 §5): one stream for each of
// local.Media, in order, on the port local.Ports gives, with the codecs of
// that media type in order of preference, their rtpmap and fmtp attributes,
// the preferred ptime, and local.Direction as an explicit media-level
// direction attribute. The o= line has local.SessionID (random if 0) and
// local.SessionVersion; c= is at session level.
func NewOffer(local Capabilities) *Session {
	s := newSession(local)
	for i := range local.Media {
		mc := &local.Media[i]
		s.Media = append(s.Media, NewMedia(*mc, port(local, mc.Type), local.Direction))
	}
	return s
}

// NewMedia builds a media description offering mc on port with direction d
// (RFC 3264 §5.1), for NewOffer and for adding a stream to a re-offer with
// Session.AddMedia (§8.1). A port of 0 or less yields a disabled stream
// with port 0.
func NewMedia(mc MediaCapability, port int, d Direction) Media {
	if port <= 0 {
		return disabledMedia(mc.Type, mc.proto(), formatsOf(mc.Codecs))
	}
	m := Media{Type: mc.Type, Port: port, Proto: mc.proto()}
	setCodecs(&m, mc.Codecs)
	if mc.PTime > 0 {
		m.Attributes = append(m.Attributes, ptimeAttr(mc.PTime))
	}
	m.SetDirection(d)
	return m
}

// Answer builds the answer to offer according to RFC 3264 §6 and §6.1.
//
// The answer has exactly as many m= lines as the offer, in the same order,
// and the same t= lines (§6). Each offered stream is rejected, with port 0
// and a single format from the offer (§6, §8.2), when it was offered with
// port 0, when local.Media has no entry of its media type and transport
// protocol, when it is offered with a multicast address (§6.2, not
// supported), when local.Ports gives no port, or when it has no codec in
// common with local other than telephone-event and comfort noise (§6.1).
//
// An accepted stream lists the common codecs in the offer's order (§6.1
// RECOMMENDED) or, with local.LocalOrder, in local order; each keeps the
// offer's payload type number (§6.1: "that same payload type number SHOULD
// be used"), including dynamic types such as telephone-event, which is
// matched by name and clock rate like any other codec. Every listed codec
// gets an rtpmap attribute, and an fmtp attribute with the local Fmtp if set
// or else the offered one. An offered ptime is copied when it does not exceed
// MediaCapability.MaxPTime; otherwise the local PTime, if any, is used.
//
// The direction of each accepted stream is the most of local.Direction that
// the offer allows (§6.1): a sendonly offer is answered recvonly or
// inactive, recvonly with sendonly or inactive, inactive with inactive, and
// sendrecv with local.Direction. A stream whose connection address is
// 0.0.0.0, the RFC 2543 hold of §8.4, is treated as not receiving, so that
// nothing is sent to it.
//
// The answer has its own o= line (§6): local.SessionID (random if 0) and
// local.SessionVersion, with c= at session level for local.Address.
// Negotiation.Answer manages the version across a dialog.
//
// Answer returns ErrNoCommonMedia, and no session, if the offer has streams
// with a non-zero port but none of them can be accepted (§6.1: "the entire
// offered session is rejected"). It returns an *OfferAnswerError for an
// offer without a t= line or with an m= line without formats.
func Answer(offer *Session, local Capabilities) (*Session, error) {
	return answer(offer, local, nil)
}

// answer implements Answer. If prev is not nil, it is the previous local
// description, whose ports are kept for streams that stay accepted.
func answer(offer *Session, local Capabilities, prev *Session) (*Session, error) {
	if offer == nil {
		return nil, oaErr(-1, "no offer")
	}
	if len(offer.Times) == 0 {
		return nil, oaErr(-1, "offer has no t= line")
	}
	s := newSession(local)
	s.Times = cloneTimes(offer.Times)
	offered, accepted := 0, 0
	for i := range offer.Media {
		om := &offer.Media[i]
		if len(om.Formats) == 0 {
			return nil, oaErr(i, "offered m= line has no formats")
		}
		if om.Port != 0 {
			offered++
		}
		portFor := func() int { return port(local, om.Type) }
		if prev != nil && i < len(prev.Media) && prev.Media[i].Port != 0 && strings.EqualFold(prev.Media[i].Type, om.Type) {
			p := prev.Media[i].Port
			portFor = func() int { return p }
		}
		am, ok := answerMedia(offer, om, &local, portFor)
		if ok {
			accepted++
		}
		s.Media = append(s.Media, am)
	}
	if offered > 0 && accepted == 0 {
		return nil, ErrNoCommonMedia
	}
	return s, nil
}

// answerMedia answers the offered stream om and reports whether it is
// accepted.
func answerMedia(offer *Session, om *Media, local *Capabilities, portFor func() int) (Media, bool) {
	reject := disabledMedia(om.Type, om.Proto, om.Formats)
	if om.Port == 0 {
		return reject, false
	}
	var mc *MediaCapability
	for i := range local.Media {
		c := &local.Media[i]
		if strings.EqualFold(c.Type, om.Type) && strings.EqualFold(c.proto(), om.Proto) {
			mc = c
			break
		}
	}
	if mc == nil {
		return reject, false
	}
	conn := offer.MediaConnection(om)
	offerRecv := true
	if conn != nil {
		if a, ok := conn.Addr(); ok {
			if a.IsMulticast() {
				return reject, false
			}
			offerRecv = !a.IsUnspecified()
		}
	}
	codecs := commonCodecs(om.Codecs(), mc.Codecs, local.LocalOrder)
	usable := false
	for _, c := range codecs {
		if !c.auxiliary() {
			usable = true
			break
		}
	}
	if !usable {
		return reject, false
	}
	p := portFor()
	if p <= 0 {
		return reject, false
	}

	am := Media{Type: om.Type, Port: p, Proto: om.Proto}
	setCodecs(&am, codecs)
	if pt, ok := om.PTime(); ok && (mc.MaxPTime == 0 || pt <= mc.MaxPTime) {
		am.Attributes = append(am.Attributes, ptimeAttr(pt))
	} else if mc.PTime > 0 {
		am.Attributes = append(am.Attributes, ptimeAttr(mc.PTime))
	}
	od := offer.MediaDirection(om)
	if !offerRecv {
		od = withoutRecv(od)
	}
	am.SetDirection(AnswerDirection(od, local.Direction))
	return am, true
}

// AnswerDirection returns the direction of an answered stream (RFC 3264
// §6.1) given the offered direction and the local preference: the answerer
// sends only if it wants to and the offerer receives, and receives only if
// it wants to and the offerer sends. So a sendonly offer gets recvonly or
// inactive, a recvonly offer sendonly or inactive, an inactive offer
// inactive, and a sendrecv offer the local preference.
func AnswerDirection(offered, local Direction) Direction {
	send := sends(local) && receives(offered)
	recv := receives(local) && sends(offered)
	return directionOf(send, recv)
}

func sends(d Direction) bool    { return d == SendRecv || d == SendOnly }
func receives(d Direction) bool { return d == SendRecv || d == RecvOnly }

func directionOf(send, recv bool) Direction {
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

func withoutRecv(d Direction) Direction { return directionOf(sends(d), false) }

// commonCodecs returns the codecs of offered that local supports, with the
// offered payload type numbers and encoding names, in the order of offered
// or, if localOrder, of local.
func commonCodecs(offered, local []Codec, localOrder bool) []Codec {
	var out []Codec
	used := make([]bool, len(offered))
	pick := func(oi int, lc Codec) {
		c := offered[oi]
		if lc.Fmtp != "" {
			c.Fmtp = lc.Fmtp
		}
		used[oi] = true
		out = append(out, c)
	}
	if localOrder {
		for _, lc := range local {
			for oi, oc := range offered {
				if !used[oi] && oc.Matches(lc) {
					pick(oi, lc)
					break
				}
			}
		}
		return out
	}
	for oi, oc := range offered {
		for _, lc := range local {
			if oc.Matches(lc) {
				pick(oi, lc)
				break
			}
		}
	}
	return out
}

// newSession returns a description with the o=, s=, c= and t= lines built
// from local and no media.
func newSession(local Capabilities) *Session {
	addrType, addr := "IP4", "0.0.0.0"
	if a := local.Address; a.IsValid() {
		a = a.Unmap().WithZone("")
		addr = a.String()
		if a.Is6() {
			addrType = "IP6"
		}
	}
	user := local.Username
	if user == "" {
		user = "-"
	}
	id := local.SessionID
	if id == 0 {
		id = newSessionID()
	}
	return &Session{
		Origin: Origin{Username: user, SessionID: id, SessionVersion: local.SessionVersion,
			NetType: "IN", AddrType: addrType, Address: addr},
		Name:       "-",
		Connection: &Connection{NetType: "IN", AddrType: addrType, Address: addr},
		Times:      []Timing{{}},
	}
}

// newSessionID returns a random non-zero session id below 2^62, so that it
// fits the signed 64-bit integers some implementations parse it into.
func newSessionID() uint64 {
	return rand.Uint64N(1<<62-1) + 1
}

func port(local Capabilities, mediaType string) int {
	if local.Ports == nil {
		return 0
	}
	return local.Ports(mediaType)
}

// disabledMedia returns a stream with port 0 and only the first of formats
// (RFC 3264 §6 and §8.2: at least one format, no attributes needed).
func disabledMedia(typ, proto string, formats []string) Media {
	f := "0"
	if len(formats) > 0 {
		f = formats[0]
	}
	return Media{Type: typ, Port: 0, Proto: proto, Formats: []string{f}}
}

func formatsOf(cs []Codec) []string {
	var fs []string
	for _, c := range cs {
		fs = append(fs, strconv.Itoa(c.PayloadType))
	}
	return fs
}

// setCodecs sets the formats of m to cs, with an rtpmap attribute for each
// named codec (RFC 3264 §6.1: MUST for dynamic, SHOULD for static payload
// types) and an fmtp attribute for each with parameters.
func setCodecs(m *Media, cs []Codec) {
	m.Formats = formatsOf(cs)
	for _, c := range cs {
		if c.Name != "" {
			m.Attributes = append(m.Attributes, Attribute{Key: "rtpmap", Value: c.String(), HasValue: true})
		}
	}
	for _, c := range cs {
		if c.Fmtp != "" {
			m.Attributes = append(m.Attributes, Attribute{Key: "fmtp",
				Value: strconv.Itoa(c.PayloadType) + " " + c.Fmtp, HasValue: true})
		}
	}
}

// ptimeAttr returns an a=ptime attribute in milliseconds, with a fraction
// if needed (RFC 8866 §6.4).
func ptimeAttr(d time.Duration) Attribute {
	ms := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
	return Attribute{Key: "ptime", Value: ms, HasValue: true}
}

func cloneTimes(ts []Timing) []Timing {
	if ts == nil {
		return nil
	}
	out := make([]Timing, len(ts))
	for i, t := range ts {
		out[i] = Timing{Start: t.Start, Stop: t.Stop, Repeats: cloneSlice(t.Repeats)}
	}
	return out
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}
