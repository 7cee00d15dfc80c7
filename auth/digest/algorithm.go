package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
)

// Algorithm is a digest algorithm as named in the algorithm parameter
// (RFC 7616 §3.3, §6.1; RFC 8760 §2). The session variants ("-sess") are
// understood by [Answer] only.
type Algorithm string

// The algorithms of the IANA "HTTP Digest Hash Algorithms" registry that
// SIP uses (RFC 8760 §2).
const (
	MD5        Algorithm = "MD5"         // RFC 2617; kept for old clients
	SHA256     Algorithm = "SHA-256"     // RFC 7616
	SHA512_256 Algorithm = "SHA-512-256" // RFC 7616 (SHA-512/256 of FIPS 180-4)
)

// base returns a without a "-sess" suffix and whether it had one.
func (a Algorithm) base() (Algorithm, bool) {
	s := string(a)
	if len(s) > 5 && strings.EqualFold(s[len(s)-5:], "-sess") {
		return Algorithm(s[:len(s)-5]), true
	}
	return a, false
}

// canonical returns the registered spelling of a (names are compared
// case-insensitively) and whether a is known, "-sess" variants included.
func canonical(a Algorithm) (Algorithm, bool) {
	b, sess := a.base()
	for _, k := range [...]Algorithm{MD5, SHA256, SHA512_256} {
		if strings.EqualFold(string(b), string(k)) {
			if sess {
				return k + "-sess", true
			}
			return k, true
		}
	}
	return a, false
}

// Known reports whether a is MD5, SHA-256 or SHA-512-256 (compared
// case-insensitively, without a "-sess" suffix).
func (a Algorithm) Known() bool {
	_, sess := a.base()
	_, ok := canonical(a)
	return ok && !sess
}

// Size returns the length in hexadecimal digits of a's digests, or 0 for
// an unknown algorithm.
func (a Algorithm) Size() int {
	if h := a.newHash(); h != nil {
		return 2 * h.Size()
	}
	return 0
}

// strength orders algorithms for choosing among challenges.
func (a Algorithm) strength() int {
	c, _ := canonical(a)
	b, _ := c.base()
	switch b {
	case SHA512_256:
		return 3
	case SHA256:
		return 2
	case MD5:
		return 1
	}
	return 0
}

// supported reports whether newHash would give a hash, without making one.
func (a Algorithm) supported() bool {
	c, ok := canonical(a)
	if !ok {
		return false
	}
	b, _ := c.base()
	return b == MD5 || b == SHA256 || b == SHA512_256
}

func (a Algorithm) newHash() hash.Hash {
	c, ok := canonical(a)
	if !ok {
		return nil
	}
	b, _ := c.base()
	switch b {
	case MD5:
		return md5.New()
	case SHA256:
		return sha256.New()
	case SHA512_256:
		return sha512.New512_256()
	}
	return nil
}

// h returns the lower-case hexadecimal digest of the concatenation of
// parts under a (RFC 7616 §3.4.1 H and KD). a must be known.
func (a Algorithm) h(parts ...string) string {
	var buf [256]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	c, _ := canonical(a)
	base, _ := c.base()
	var out [64]byte
	var n int
	switch base {
	case MD5:
		sum := md5.Sum(b)
		n = hex.Encode(out[:], sum[:])
	case SHA256:
		sum := sha256.Sum256(b)
		n = hex.Encode(out[:], sum[:])
	case SHA512_256:
		sum := sha512.Sum512_256(b)
		n = hex.Encode(out[:], sum[:])
	default:
		panic("digest: unknown algorithm " + string(a))
	}
	return string(out[:n])
}

// HA1 returns H(user ":" realm ":" password) in lower-case hexadecimal
// (RFC 7616 §3.4.2, RFC 2617 §3.2.2.2), the value a users file holds.
// It returns "" for an unknown algorithm; for a "-sess" algorithm it
// returns the HA1 of the base algorithm, which is what a server stores.
func HA1(user, realm, password string, alg Algorithm) string {
	if !alg.supported() {
		return ""
	}
	return alg.h(user, ":", realm, ":", password)
}

// Response returns the request-digest (the response parameter) for the
// given HA1 and parameters (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1):
//
//	KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri))     qop auth
//	KD(HA1, nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri ":" H(body)))  auth-int
//	H(HA1 ":" nonce ":" H(method ":" uri))                           no qop (RFC 2069)
//
// For a "-sess" algorithm, ha1 is the stored H(user:realm:password) and
// Response derives the session HA1 with nonce and cnonce (RFC 7616
// §3.4.2). It returns "" for an unknown algorithm or qop.
func Response(alg Algorithm, ha1, nonce, nc, cnonce, qop string, method, uri string, body []byte) string {
	if !alg.supported() {
		return ""
	}
	if _, sess := alg.base(); sess {
		ha1 = alg.h(ha1, ":", nonce, ":", cnonce)
	}
	var ha2 string
	switch qop {
	case "", "auth":
		ha2 = alg.h(method, ":", uri)
	case "auth-int":
		ha2 = alg.h(method, ":", uri, ":", alg.h(string(body)))
	default:
		return ""
	}
	if qop == "" {
		return alg.h(ha1, ":", nonce, ":", ha2)
	}
	return alg.h(ha1, ":", nonce, ":", nc, ":", cnonce, ":", qop, ":", ha2)
}
