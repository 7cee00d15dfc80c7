package digest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/parleysip/parley/sip"
)

// Errors of [Answer].
var (
	// ErrNotDigest means the challenge's scheme is not Digest.
	ErrNotDigest = errors.New("digest: challenge scheme is not Digest")
	// ErrAlgorithm means the challenge names an algorithm this package
	// does not implement.
	ErrAlgorithm = errors.New("digest: unsupported algorithm")
	// ErrQop means the challenge offers no quality of protection this
	// package implements.
	ErrQop = errors.New("digest: unsupported qop")
	// ErrChallenge means the challenge lacks realm or nonce.
	ErrChallenge = errors.New("digest: challenge lacks realm or nonce")
)

// Choose returns the challenge among challenges (the values of the
// WWW-Authenticate or Proxy-Authenticate fields of one response) that
// [Answer] should answer: the Digest challenge with the strongest
// algorithm this package implements (SHA-512-256, then SHA-256, then MD5;
// RFC 7616 §3.7: the client uses the first one it supports in the server's
// order of preference, and servers list the strongest first). ok is false
// if there is none.
func Choose(challenges []sip.Auth) (c sip.Auth, ok bool) {
	best := 0
	for _, ch := range challenges {
		if !strings.EqualFold(ch.Scheme, "Digest") {
			continue
		}
		alg, present := ch.Get("algorithm")
		if !present {
			alg = string(MD5)
		}
		if s := Algorithm(alg).strength(); s > best {
			best, c, ok = s, ch, true
		}
	}
	return c, ok
}

// Answer returns the credentials that answer challenge for a request with
// the given method, Request-URI (as written in the request line) and body,
// for user with password (RFC 3261 §22.2, RFC 7616 §3.4). The caller puts
// them in an Authorization field (for a 401) or a Proxy-Authorization
// field (for a 407) as [Value] formats them.
//
// Answer supports MD5, SHA-256 and SHA-512-256 and their "-sess"
// variants, qop "auth" (preferred) and "auth-int", a challenge with no
// qop (RFC 2069 style, without cnonce and nc), userhash (RFC 7616 §3.4.4)
// and echoes opaque. cnonce returns the client nonce; nil means 16 random
// bytes in hexadecimal. nc is the nonce-count, the number of requests
// sent with this nonce including this one; 0 is taken as 1.
func Answer(challenge sip.Auth, method sip.Method, uri string, user, password string, body []byte, cnonce func() string, nc uint32) (sip.Auth, error) {
	if !strings.EqualFold(challenge.Scheme, "Digest") {
		return sip.Auth{}, ErrNotDigest
	}
	realm, okr := challenge.Get("realm")
	nonce, okn := challenge.Get("nonce")
	if !okr || !okn {
		return sip.Auth{}, ErrChallenge
	}
	alg := MD5
	if a, ok := challenge.Get("algorithm"); ok {
		c, known := canonical(Algorithm(a))
		if !known {
			return sip.Auth{}, fmt.Errorf("%w: %q", ErrAlgorithm, a)
		}
		alg = c
	}
	qop := ""
	if q, ok := challenge.Get("qop"); ok {
		for o := range strings.SplitSeq(q, ",") {
			switch strings.ToLower(strings.TrimSpace(o)) {
			case "auth":
				qop = "auth"
			case "auth-int":
				if qop == "" {
					qop = "auth-int"
				}
			}
		}
		if qop == "" {
			return sip.Auth{}, fmt.Errorf("%w: %q", ErrQop, q)
		}
	}
	if nc == 0 {
		nc = 1
	}
	var cn, ncs string
	if qop != "" {
		if cnonce != nil {
			cn = cnonce()
		} else {
			var b [16]byte
			rand.Read(b[:])
			cn = hex.EncodeToString(b[:])
		}
		ncs = fmt.Sprintf("%08x", nc)
	}
	resp := Response(alg, HA1(user, realm, password, alg), nonce, ncs, cn, qop, string(method), uri, body)

	name := user
	uh, _ := challenge.Get("userhash")
	userhash := strings.EqualFold(uh, "true")
	if userhash {
		name = alg.h(user, ":", realm)
	}
	var b strings.Builder
	b.WriteString("username=")
	b.WriteString(quote(name))
	b.WriteString(", realm=")
	b.WriteString(quote(realm))
	b.WriteString(", nonce=")
	b.WriteString(quote(nonce))
	b.WriteString(", uri=")
	b.WriteString(quote(uri))
	b.WriteString(", response=")
	b.WriteString(quote(resp))
	b.WriteString(", algorithm=")
	b.WriteString(string(alg))
	if qop != "" {
		b.WriteString(", cnonce=")
		b.WriteString(quote(cn))
		b.WriteString(", qop=")
		b.WriteString(qop)
		b.WriteString(", nc=")
		b.WriteString(ncs)
	}
	if op, ok := challenge.Get("opaque"); ok {
		b.WriteString(", opaque=")
		b.WriteString(quote(op))
	}
	if userhash {
		b.WriteString(", userhash=true")
	}
	return sip.Auth{Scheme: "Digest", Params: b.String()}, nil
}

// Value returns a challenge or credentials as the value of a header field:
// the scheme, a space and the parameters.
func Value(a sip.Auth) string {
	if a.Params == "" {
		return a.Scheme
	}
	return a.Scheme + " " + a.Params
}

// quote returns s as a quoted-string (RFC 3261 §25.1), escaping '"' and
// '\' and dropping characters a quoted-string cannot hold (CR, LF, other
// controls but HTAB).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t', c == 0x7f:
			// not representable
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
