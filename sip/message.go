package sip

import (
	"log/slog"
	"strconv"
)

// Version is the only SIP version Parley speaks (§7.1). A request with any
// other version is answered 505 (§21.5.6).
const Version = "SIP/2.0"

// Message is a *Request or a *Response.
type Message interface {
	// Headers returns the message's header section.
	Headers() *Header
	// Payload returns the body.
	Payload() []byte
	// Len returns the length of the encoded message.
	Len() int
	// AppendTo appends the encoded message to b.
	AppendTo(b []byte) []byte
	// String returns the encoded message.
	String() string
	message()
}

// Request is a SIP request (§7.1). The zero value is not useful; parse one
// or build one with [NewRequest].
type Request struct {
	Method Method
	// URI is the Request-URI.
	URI URI
	Header
	// Body is the message body. Change it with SetBody so that
	// Content-Length follows.
	Body []byte
}

// Response is a SIP response (§7.2).
type Response struct {
	StatusCode StatusCode
	// Reason is the reason phrase. A parsed response keeps it as written,
	// possibly empty (RFC 4475 §3.1.1.13); a built response with an empty
	// Reason is encoded with [StatusText] of its code.
	Reason string
	Header
	Body []byte
}

func (*Request) message()  {}
func (*Response) message() {}

// Headers returns the request's header section.
func (r *Request) Headers() *Header { return &r.Header }

// Headers returns the response's header section.
func (r *Response) Headers() *Header { return &r.Header }

// Payload returns the body.
func (r *Request) Payload() []byte { return r.Body }

// Payload returns the body.
func (r *Response) Payload() []byte { return r.Body }

// SetBody replaces the body and sets Content-Length and Content-Type
// (an empty contentType leaves Content-Type as it is).
func (r *Request) SetBody(contentType string, body []byte) {
	r.Body = body
	r.setBody(contentType, body)
}

// SetBody replaces the body and sets Content-Length and Content-Type
// (an empty contentType leaves Content-Type as it is).
func (r *Response) SetBody(contentType string, body []byte) {
	r.Body = body
	r.setBody(contentType, body)
}

func (h *Header) setBody(contentType string, body []byte) {
	if contentType != "" {
		h.SetContentType(contentType)
	}
	h.setContentLength(len(body))
}

// Len returns the length of the encoded request.
func (r *Request) Len() int {
	n := len(r.Method) + 1 + r.URI.Len() + 1 + len(Version) + 2
	return n + r.tailLen(r.Body)
}

func (h *Header) tailLen(body []byte) int {
	n := h.fieldsLen()
	if h.contentLength < 0 {
		n += len("Content-Length: ") + decLen(uint64(len(body))) + 2
	}
	return n + 2 + len(body)
}

// AppendTo appends the encoded request to b. Untouched header fields are
// written as received; a Content-Length is added if the message has none
// (§18.3, §20.14: it is mandatory over stream transports).
func (r *Request) AppendTo(b []byte) []byte {
	return r.appendTail(r.appendStartLine(b), r.Body, false)
}

// appendStartLine appends Method SP Request-URI SP SIP-Version CRLF.
func (r *Request) appendStartLine(b []byte) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = r.URI.AppendTo(b)
	b = append(b, ' ')
	b = append(b, Version...)
	return append(b, "\r\n"...)
}

func (h *Header) appendTail(b, body []byte, canonical bool) []byte {
	b = h.appendFields(b, canonical)
	if h.contentLength < 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// String returns the encoded request.
func (r *Request) String() string { return string(r.AppendTo(make([]byte, 0, r.Len()))) }

// Len returns the length of the encoded response.
func (r *Response) Len() int {
	n := len(Version) + 5 + len(r.reason()) + 2
	return n + r.tailLen(r.Body)
}

func (r *Response) reason() string {
	if r.Reason == "" && r.src == "" {
		return StatusText(r.StatusCode)
	}
	return r.Reason
}

// AppendTo appends the encoded response to b.
func (r *Response) AppendTo(b []byte) []byte {
	return r.appendTail(r.appendStartLine(b), r.Body, false)
}

// appendStartLine appends SIP-Version SP Status-Code SP Reason-Phrase CRLF.
func (r *Response) appendStartLine(b []byte) []byte {
	b = append(b, Version...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.StatusCode), 10)
	b = append(b, ' ')
	b = append(b, r.reason()...)
	return append(b, "\r\n"...)
}

// String returns the encoded response.
func (r *Response) String() string { return string(r.AppendTo(make([]byte, 0, r.Len()))) }

// AppendCanonical appends m with every header re-written in its canonical
// form: long names, one value per line, no folding. It is what `parley
// parse` prints.
func AppendCanonical(b []byte, m Message) []byte {
	switch m := m.(type) {
	case *Request:
		return m.appendTail(m.appendStartLine(b), m.Body, true)
	case *Response:
		return m.appendTail(m.appendStartLine(b), m.Body, true)
	}
	return b
}

// Clone returns a deep copy of r that can be changed independently.
func (r *Request) Clone() *Request {
	// Storage for the fields comes in the same allocation.
	var c *Request
	var fa []field
	if r.set != nil {
		// Set From/To values are copied into storage of the same
		// allocation.
		b := &struct {
			r    Request
			fa   [builtFields]field
			pair addrPair
		}{r: Request{Method: r.Method, URI: r.URI}}
		c, fa = &b.r, b.fa[:]
		c.set = &b.pair
	} else {
		b := &struct {
			r  Request
			fa [builtFields]field
		}{r: Request{Method: r.Method, URI: r.URI}}
		c, fa = &b.r, b.fa[:]
	}
	c.copyFrom(&r.Header, fieldRoom(fa, len(r.fields)))
	if r.Body != nil {
		c.Body = append([]byte(nil), r.Body...)
	}
	return c
}

// Clone returns a deep copy of r that can be changed independently.
func (r *Response) Clone() *Response {
	var c *Response
	var fa []field
	if r.set != nil {
		// Set From/To values are copied into storage of the same
		// allocation.
		b := &struct {
			r    Response
			fa   [builtFields]field
			pair addrPair
		}{r: Response{StatusCode: r.StatusCode, Reason: r.Reason}}
		c, fa = &b.r, b.fa[:]
		c.set = &b.pair
	} else {
		b := &struct {
			r  Response
			fa [builtFields]field
		}{r: Response{StatusCode: r.StatusCode, Reason: r.Reason}}
		c, fa = &b.r, b.fa[:]
	}
	c.copyFrom(&r.Header, fieldRoom(fa, len(r.fields)))
	if r.Body != nil {
		c.Body = append([]byte(nil), r.Body...)
	}
	return c
}

// builtFields is the room for fields that a built or cloned message gets
// in its own allocation.
const builtFields = 16

// fieldRoom returns fa, or a new slice when n fields do not fit in it.
func fieldRoom(fa []field, n int) []field {
	if n <= len(fa) {
		return fa
	}
	return make([]field, 0, n+4)
}

// LogValue gives a one-line summary for log/slog, never the body.
func (r *Request) LogValue() slog.Value {
	c, _ := r.CSeq()
	return slog.GroupValue(
		slog.String("method", string(r.Method)),
		slog.String("uri", r.URI.String()),
		slog.String("call_id", r.callID),
		slog.String("cseq", c.String()),
	)
}

// LogValue gives a one-line summary for log/slog, never the body.
func (r *Response) LogValue() slog.Value {
	c, _ := r.CSeq()
	return slog.GroupValue(
		slog.Int("status", int(r.StatusCode)),
		slog.String("call_id", r.callID),
		slog.String("cseq", c.String()),
	)
}
