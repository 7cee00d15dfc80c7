package sip

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/parleysip/parley/internal/abnf"
)

// Reader reads messages from a byte stream (TCP, TLS), framing each by its
// Content-Length (RFC 3261 §18.3). It ignores CRLFs before a start line
// (§7.5) and reports keep-alive pings, a double CRLF between messages
// (RFC 5626 §4.4.1), to OnKeepAlive.
//
// A framing error — a missing, negative, conflicting or oversized
// Content-Length, or a header section that never ends within the size
// limit — leaves the stream position unknown: ReadMessage returns it and
// every later call returns it again, and the caller must close the
// connection. A message that is framed correctly but malformed returns a
// *[ParseError] and the Reader stays usable.
//
// A Reader never buffers more than Limits.MaxMessageSize bytes of one
// message, so a peer cannot make it allocate without bound; a message that
// stops half-way simply blocks in the underlying Read, which the caller
// bounds with a read deadline.
type Reader struct {
	r      io.Reader
	limits Limits
	buf    []byte // buf[start:end] holds unread bytes
	start  int
	end    int
	err    error // sticky framing or I/O error

	// OnKeepAlive, if set, is called for each CRLFCRLF keep-alive ping
	// received between messages; the transport answers it with a single
	// CRLF (RFC 5626 §4.4.1). A lone CRLF (a pong) is skipped silently.
	OnKeepAlive func()
}

// NewReader returns a Reader that reads from r within the given limits.
func NewReader(r io.Reader, l Limits) *Reader {
	return &Reader{r: r, limits: l}
}

// ErrFraming is wrapped by the sticky errors after which a stream must be
// closed.
var ErrFraming = errors.New("sip: stream framing lost")

// Buffered returns the number of bytes read from the stream but not yet
// consumed.
func (r *Reader) Buffered() int { return r.end - r.start }

// fill reads more data, growing the buffer up to the limit.
func (r *Reader) fill() error {
	if r.start > 0 && r.start == r.end {
		r.start, r.end = 0, 0
	}
	if r.end == len(r.buf) {
		if r.start > 0 {
			copy(r.buf, r.buf[r.start:r.end])
			r.end -= r.start
			r.start = 0
		} else {
			limit := r.limits.maxSize() + 4 // room for the CRLFs around one message
			if len(r.buf) >= limit {
				return ErrMessageTooLarge
			}
			n := min(max(2*len(r.buf), 4096), limit)
			nb := make([]byte, n)
			copy(nb, r.buf[r.start:r.end])
			r.end -= r.start
			r.start = 0
			r.buf = nb
		}
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// ReadMessage returns the next message on the stream.
func (r *Reader) ReadMessage() (Message, error) {
	if r.err != nil {
		return nil, r.err
	}
	// Skip CRLFs before the start line; a CRLFCRLF is a keep-alive ping.
	for {
		for r.start < r.end && (r.buf[r.start] == '\r' || r.buf[r.start] == '\n') {
			if r.end-r.start >= 4 && string(r.buf[r.start:r.start+4]) == "\r\n\r\n" {
				r.start += 4
				if r.OnKeepAlive != nil {
					r.OnKeepAlive()
				}
				continue
			}
			if r.end-r.start < 4 && r.buf[r.start] == '\r' && isCRLFPrefix(r.buf[r.start:r.end]) {
				// Maybe the start of a ping: wait for the rest.
				break
			}
			r.start++
		}
		if r.start < r.end && r.buf[r.start] != '\r' && r.buf[r.start] != '\n' {
			break
		}
		if err := r.fill(); err != nil {
			return nil, r.ioErr(err)
		}
	}
	// Find the end of the header section. rel counts the bytes already
	// searched, relative to r.start (fill may move the data).
	rel := 0
	var bstart int
	for {
		var ok bool
		_, bstart, ok = headerEnd(r.buf[:r.end], r.start+max(rel-3, 0))
		if ok {
			break
		}
		rel = r.end - r.start
		if rel > r.limits.maxSize() {
			return nil, r.tooLarge("header section larger than the limit")
		}
		if err := r.fill(); err != nil {
			if errors.Is(err, ErrMessageTooLarge) {
				return nil, r.tooLarge("header section larger than the limit")
			}
			return nil, r.ioErr(err)
		}
	}
	cl, err := streamContentLength(r.buf[r.start:bstart])
	if err != "" {
		return nil, r.framing(err)
	}
	total := bstart - r.start + cl
	if total > r.limits.maxSize() {
		return nil, r.tooLarge("message larger than the limit")
	}
	for r.end-r.start < total {
		if err := r.fill(); err != nil {
			return nil, r.ioErr(err)
		}
	}
	msg := r.buf[r.start : r.start+total]
	r.start += total
	m, perr := r.limits.parse(msg, true)
	if perr != nil {
		var pe *ParseError
		if errors.As(perr, &pe) && pe.Framing {
			r.err = perr
		}
		return nil, perr
	}
	return m, nil
}

func isCRLFPrefix(b []byte) bool {
	return bytes.HasPrefix([]byte("\r\n\r\n"), b)
}

func (r *Reader) framing(reason string) error {
	r.err = &ParseError{Status: StatusBadRequest, Reason: reason, Header: string(HeaderContentLength), Framing: true, Line: 1}
	return r.err
}

// tooLarge is the sticky error for a message over the size limit (513,
// RFC 3261 §21.5.7).
func (r *Reader) tooLarge(reason string) error {
	r.err = &ParseError{Status: StatusMessageTooLarge, Reason: reason, Framing: true, Line: 1}
	return r.err
}

func (r *Reader) ioErr(err error) error {
	if errors.Is(err, io.EOF) && r.end > r.start {
		err = io.ErrUnexpectedEOF
	}
	r.err = err
	return err
}

// streamContentLength finds the Content-Length of a header section without
// a full parse. Every occurrence must agree (RFC 4475 §3.3.9).
func streamContentLength(hdr []byte) (int, string) {
	cl := -1
	for len(hdr) > 0 {
		nl := bytes.IndexByte(hdr, '\n')
		var line []byte
		if nl < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:nl], hdr[nl+1:]
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name := strings.TrimRight(string(line[:colon]), " \t")
		if lookupHeader(name) != hdrContentLength {
			continue
		}
		v := abnf.TrimWS(string(line[colon+1:]))
		n, ok := abnf.ParseUint(v, 1<<31-1)
		if !ok {
			return 0, "bad Content-Length"
		}
		if cl >= 0 && cl != int(n) {
			return 0, "conflicting Content-Length values"
		}
		cl = int(n)
	}
	if cl < 0 {
		// §18.3: all stream-oriented transports MUST use Content-Length.
		return 0, "missing Content-Length on a stream"
	}
	return cl, ""
}
