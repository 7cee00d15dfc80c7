package ua

import (
	"errors"
	"strconv"
	"strings"

	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sip"
)

// Reason is the Reason header field of RFC 3326 §2, carried by CANCEL and
// BYE to say why a call ends: a protocol ("SIP" or "Q.850"), a cause (a SIP
// status code or an ITU-T Q.850 cause value) and an optional text. It is
// also an error, so that a session's end can report it.
type Reason struct {
	Protocol string
	Cause    int
	Text     string
}

// Common reasons.
var (
	// ReasonCompletedElsewhere is RFC 3326 §3.1's "Call completed
	// elsewhere", for the CANCEL of forked branches another one answered.
	ReasonCompletedElsewhere = &Reason{Protocol: "SIP", Cause: 200, Text: "Call completed elsewhere"}
	// ReasonNormal is Q.850 cause 16, normal call clearing.
	ReasonNormal = &Reason{Protocol: "Q.850", Cause: 16, Text: "Normal call clearing"}
)

// String returns the header value: `SIP ;cause=200 ;text="Call completed
// elsewhere"` (RFC 3326 §2: reason-value = protocol *(SEMI reason-params)).
func (r *Reason) String() string {
	b := []byte(r.Protocol)
	b = append(b, ";cause="...)
	b = strconv.AppendInt(b, int64(r.Cause), 10)
	if r.Text != "" {
		b = append(b, ";text="...)
		b = abnf.AppendQuoted(b, r.Text)
	}
	return string(b)
}

// Error makes a Reason an error: "Reason: SIP;cause=…", as it reads
// wrapped by the error it explains ("ua: call cancelled: Reason: …").
func (r *Reason) Error() string { return "Reason: " + r.String() }

// ParseReason parses one Reason header value.
func ParseReason(v string) (*Reason, error) {
	proto, params, _ := strings.Cut(v, ";")
	r := &Reason{Protocol: strings.TrimSpace(proto)}
	if r.Protocol == "" || !abnf.IsTokenString(r.Protocol) {
		return nil, errors.New("ua: Reason without a protocol token")
	}
	p := sip.Params(";" + params)
	c, ok := p.Get("cause")
	if !ok {
		return nil, errors.New("ua: Reason without a cause")
	}
	n, err := strconv.Atoi(strings.TrimSpace(c))
	if err != nil || n < 0 {
		return nil, errors.New("ua: Reason with a bad cause")
	}
	r.Cause = n
	if t, ok := p.Get("text"); ok {
		r.Text = sip.Unquote(strings.TrimSpace(t))
	}
	return r, nil
}

// reasonOf returns the first well-formed Reason of h, or nil.
func reasonOf(h *sip.Header) *Reason {
	for v := range h.Values(string(sip.HeaderReason)) {
		if r, err := ParseReason(v); err == nil {
			return r
		}
	}
	return nil
}
