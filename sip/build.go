package sip

import (
	"crypto/rand"
	"encoding/base32"
)

// NewRequest returns a request with the given method and Request-URI and
// no header fields; the caller adds Via, From, To, Call-ID, CSeq and
// Max-Forwards (§8.1.1) — the ua package does that for user agents.
func NewRequest(method Method, uri URI) *Request {
	// A built request gets its From and To set: their storage comes in
	// the same allocation.
	b := &struct {
		r    Request
		pair addrPair
		fa   [builtFields]field
	}{r: Request{Method: method, URI: uri}}
	r := &b.r
	r.init(b.fa[:])
	r.set = &b.pair
	return r
}

// NewResponse builds a response to req as §8.2.6.2 says: "The From field
// of the response MUST equal the From header field of the request. The
// Call-ID header field of the response MUST equal the Call-ID header field
// of the request. The CSeq header field of the response MUST equal the CSeq
// field of the request. The Via header field values in the response MUST
// equal the Via header field values in the request and MUST maintain the
// same ordering." To is copied too, and for any status but 100 a tag is
// added when the request's To has none ("the UAS MUST add a tag", §8.2.6.2;
// change it with SetToTag to use a dialog's tag). A 100 Trying copies
// Timestamp (§8.2.6.1).
//
// The fields are copied as received, so a response to a request whose
// CSeq or From could not be parsed (a [ParseError] with a Request) still
// echoes them. NewResponse never panics on a request produced by the
// parser, whatever it held.
func NewResponse(req *Request, code StatusCode) *Response {
	b := &struct {
		r    Response
		pair addrPair
		fa   [builtFields]field
	}{r: Response{StatusCode: code, Reason: StatusText(code)}}
	r := &b.r
	r.init(b.fa[:])
	r.set = &b.pair
	src := &req.Header
	// The response shares the request's immutable text, so copied fields
	// keep pointing into it.
	r.src = src.src
	for i := range src.fields {
		f := src.fields[i]
		switch f.id {
		case hdrVia, hdrFrom, hdrTo, hdrCallID, hdrCSeq:
		case hdrTimestamp:
			if code != StatusTrying {
				continue
			}
		default:
			continue
		}
		if f.own() {
			f = r.ownField(f.id, src.extra[f.a], src.extra[f.a+1])
		}
		r.fields = append(r.fields, f)
	}
	r.via = append(r.via, src.via...)
	copyAddr(&r.Header, &r.from, src, &src.from, false)
	copyAddr(&r.Header, &r.to, src, &src.to, true)
	r.callID, r.cseq = src.callID, src.cseq
	r.has = src.has & (hasFrom | hasTo | hasCallID | hasCSeq)
	r.nextGrp = src.nextGrp
	if code != StatusTrying && r.has&hasTo != 0 && r.to.tag == "" {
		r.SetToTag(NewTag())
	}
	return r
}

// randomToken returns n (at most 20) random bytes as lower-case base32 (a
// token), with one allocation.
func randomToken(n int) string {
	var raw [20]byte
	var enc [32]byte
	rand.Read(raw[:n]) // crypto/rand.Read never returns an error (Go 1.24+).
	m := lowerBase32.EncodedLen(n)
	lowerBase32.Encode(enc[:m], raw[:n])
	return string(enc[:m])
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewBranch returns a new branch parameter: the magic cookie followed by
// 80 random bits, unique across space and time as §8.1.1.7 requires.
func NewBranch() string { return MagicCookie + randomToken(10) }

// NewTag returns a new From/To tag with 64 random bits (§19.3: "at least
// 32 bits of randomness").
func NewTag() string { return randomToken(8) }

// NewCallID returns a new Call-ID with 120 random bits (§8.1.1.4); host,
// if not empty, is appended after "@".
func NewCallID(host string) string {
	id := randomToken(15)
	if host != "" {
		id += "@" + host
	}
	return id
}
