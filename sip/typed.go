package sip

import (
	"errors"
	"strings"
	"time"

	"github.com/parleysip/parley/internal/abnf"
)

// Typed accessors for headers that the codec keeps as raw bytes. Each
// parses on call; none is on the per-message hot path.

// ErrNoHeader is returned by typed accessors when the header is absent.
var ErrNoHeader = errors.New("sip: header not present")

// Expires returns the Expires header in seconds (§20.19). Values beyond
// 2³²-1 saturate (RFC 4475 §3.1.2.4 lets an element treat an overlarge
// expiry as a large one). ok is false when absent or malformed.
func (h *Header) Expires() (seconds uint32, ok bool) {
	v := h.Get(string(HeaderExpires))
	if v == "" {
		return 0, false
	}
	return parseDeltaSeconds(v)
}

// MinExpires returns the Min-Expires header in seconds (§20.23).
func (h *Header) MinExpires() (seconds uint32, ok bool) {
	v := h.Get(string(HeaderMinExpires))
	if v == "" {
		return 0, false
	}
	return parseDeltaSeconds(v)
}

// HasOptionTag reports whether the list header name (Require, Supported,
// Proxy-Require, Unsupported...) holds tag. Option tags are tokens (§19.2)
// and are compared here without regard to case, as the widely deployed
// stacks do.
func (h *Header) HasOptionTag(name, tag string) bool {
	for v := range h.Values(name) {
		if abnf.EqualFold(v, tag) {
			return true
		}
	}
	return false
}

// OptionTags returns the values of a list header such as Require,
// Supported or Proxy-Require (§20.32, §20.37, §20.29).
func (h *Header) OptionTags(name string) []string {
	var out []string
	for v := range h.Values(name) {
		out = append(out, v)
	}
	return out
}

// Allow returns the methods listed in Allow headers (§20.5).
func (h *Header) Allow() []Method {
	var out []Method
	for v := range h.Values(string(HeaderAllow)) {
		out = append(out, internMethod(v))
	}
	return out
}

// Event is the value of an Event header (RFC 6665 §8.2.1): an event
// package, optional template suffixes, and parameters such as id.
type Event struct {
	Package string
	Params  Params
}

// ID returns the id parameter, or "".
func (e Event) ID() string {
	v, _ := e.Params.Get("id")
	return v
}

// Event parses the Event header.
func (h *Header) Event() (Event, error) {
	v := h.Get(string(HeaderEvent))
	if v == "" {
		return Event{}, ErrNoHeader
	}
	end := abnf.Token(v, 0)
	if end == 0 {
		return Event{}, errHeader("bad Event package")
	}
	e := Event{Package: v[:end]}
	if rest := v[end:]; abnf.TrimWS(rest) != "" {
		if !validHeaderParams(rest) {
			return Event{}, errHeader("bad Event parameters")
		}
		e.Params = Params(rest)
	}
	return e, nil
}

// Auth is a challenge (WWW-Authenticate, Proxy-Authenticate) or
// credentials (Authorization, Proxy-Authorization) value (§20.7, §20.27,
// §20.28, §20.44, RFC 7616): a scheme and its comma-separated auth-params
// as written.
type Auth struct {
	Scheme string
	Params string
}

// ParseAuth parses a challenge or credentials value.
func ParseAuth(v string) (Auth, error) {
	v = abnf.TrimWS(v)
	end := abnf.Token(v, 0)
	if end == 0 {
		return Auth{}, errHeader("bad auth scheme")
	}
	a := Auth{Scheme: v[:end], Params: abnf.TrimWS(v[end:])}
	for n, val := range a.All() {
		if n == "" || val == "\x00" {
			return Auth{}, errHeader("bad auth parameter")
		}
	}
	return a, nil
}

// Get returns the named auth-param (case-insensitive name), unquoted.
func (a Auth) Get(name string) (string, bool) {
	for n, v := range a.All() {
		if abnf.EqualFold(n, name) {
			return abnf.Unquote(v), true
		}
	}
	return "", false
}

// All yields each auth-param's name and raw value (quotes kept). A
// malformed parameter yields an empty name and stops the iteration.
func (a Auth) All() func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		s := a.Params
		for len(s) > 0 {
			end := listElemEnd(s)
			item := abnf.TrimWS(s[:end])
			if item != "" {
				n, v, ok := strings.Cut(item, "=")
				n, v = abnf.TrimWS(n), abnf.TrimWS(v)
				if !ok || !abnf.IsTokenString(n) || v == "" {
					yield("", "\x00")
					return
				}
				if v[0] == '"' {
					if e, qok := abnf.QuotedString(v, 0); !qok || e != len(v) {
						yield("", "\x00")
						return
					}
				}
				if !yield(n, v) {
					return
				}
			}
			if end >= len(s) {
				return
			}
			s = s[end+1:]
		}
	}
}

// Auths parses every value of a challenge or credentials header (name is
// e.g. "Authorization"); such headers repeat rather than use commas.
func (h *Header) Auths(name string) ([]Auth, error) {
	var out []Auth
	for v := range h.Values(name) {
		a, err := ParseAuth(v)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Date parses the Date header (§20.17): an RFC 1123 date whose zone MUST
// be "GMT" (RFC 4475 §3.1.2.12).
func (h *Header) Date() (time.Time, error) {
	v := h.Get(string(HeaderDate))
	if v == "" {
		return time.Time{}, ErrNoHeader
	}
	if !strings.HasSuffix(v, " GMT") {
		return time.Time{}, errHeader("Date zone must be GMT")
	}
	t, err := time.Parse(time.RFC1123, v)
	if err != nil {
		return time.Time{}, errHeader("bad Date")
	}
	return t, nil
}

// MediaType splits a Content-Type or Accept value into type, subtype and
// parameters (§20.15: m-type SLASH m-subtype *(SEMI m-parameter)). Type
// and subtype are returned as written; compare them case-insensitively.
func MediaType(v string) (typ, sub string, params Params, err error) {
	v = abnf.TrimWS(v)
	i := abnf.Token(v, 0)
	j := abnf.SkipWS(v, i)
	if i == 0 || j >= len(v) || v[j] != '/' {
		return "", "", "", errHeader("bad media type")
	}
	k := abnf.SkipWS(v, j+1)
	e := abnf.Token(v, k)
	if e == k {
		return "", "", "", errHeader("bad media subtype")
	}
	rest := v[e:]
	if abnf.TrimWS(rest) != "" {
		if !validHeaderParams(rest) {
			return "", "", "", errHeader("bad media parameters")
		}
		params = Params(rest)
	}
	return v[:i], v[k:e], params, nil
}
