package digest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleysip/parley/internal/abnf"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
)

// Result is the outcome of [Server.Verify].
type Result int

// The results of [Server.Verify].
const (
	// Authenticated means the credentials are correct, fresh and not
	// replayed.
	Authenticated Result = iota
	// NoCredentials means the request carries no Digest credentials for
	// the server's realm (credentials for other realms are ignored,
	// §22.3); the request is to be challenged.
	NoCredentials
	// Stale means the credentials were computed with the right password
	// but over a nonce that has expired or that this server did not issue
	// (RFC 7616 §3.3 stale); the request is to be challenged with
	// stale=true so that the client retries without asking its user.
	Stale
	// Failed means the user is unknown, the password is wrong or the
	// algorithm was not offered. The two cases are not told apart.
	Failed
	// Replayed means the nonce-count was not higher than one already
	// accepted for this nonce (RFC 7616 §3.4).
	Replayed
	// Malformed means the credentials lack a parameter, carry a bad one,
	// or name a uri other than the Request-URI (RFC 7616 §3.4.6).
	Malformed
)

var resultNames = [...]string{"authenticated", "no credentials", "stale", "failed", "replayed", "malformed"}

// String returns a short description of r, such as "stale".
func (r Result) String() string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Server challenges requests and verifies their Digest credentials
// (RFC 3261 §22.1, §22.3, §22.4). Configure it before first use and do not
// change it afterwards; its methods are safe for concurrent use. The zero
// value works (it knows no users, so it authenticates nobody).
type Server struct {
	// Realm is the protection realm (§22.1). Empty means the host of the
	// Request-URI for REGISTER and the host of the From URI for other
	// requests (the domain of the registrar or of the local user).
	Realm string
	// Users holds the HA1 values. nil means no user is known.
	Users UserStore
	// Secret keys the nonce MAC. Servers that share it (several nodes of
	// a cluster) accept each other's nonces. nil means a random secret
	// chosen on first use, so a restart makes outstanding nonces stale.
	Secret []byte
	// NonceTTL is how long a nonce stays valid; 0 means 5 minutes.
	NonceTTL time.Duration
	// Algorithms lists the algorithms offered, one challenge each, in
	// this order (RFC 8760 §2.4: the preferred one first). Empty means
	// SHA-256 then MD5.
	Algorithms []Algorithm
	// AuthInt offers qop "auth,auth-int" instead of "auth" and accepts
	// auth-int credentials (the body is then protected too).
	AuthInt bool
	// AllowRFC2069 accepts credentials without qop (RFC 2069 style, as
	// RFC 2617 §3.2.2 still allows). They carry no nonce-count, so a
	// replay within the nonce's lifetime cannot be detected; leave it off
	// unless old clients need it.
	AllowRFC2069 bool
	// Proxy makes the server act as a proxy: 407 Proxy Authentication
	// Required with Proxy-Authenticate, credentials in
	// Proxy-Authorization (§22.3). Otherwise 401 Unauthorized with
	// WWW-Authenticate and Authorization (§22.2, §22.4).
	Proxy bool
	// Methods lists the methods the middleware challenges. Empty means
	// every method but ACK and CANCEL, which cannot be challenged (§22.1).
	Methods []sip.Method
	// Domains, when not empty, limits the middleware to REGISTER requests
	// and to requests from local users: those whose From URI host is one
	// of Domains (compared case-insensitively). Other requests pass
	// through unauthenticated.
	Domains []string
	// RateLimit limits failed attempts per source address; see
	// [RateLimit]. The source is the remote address of the flow when the
	// ResponseWriter implements [stack.FlowWriter]; requests without one
	// are not limited.
	RateLimit RateLimit
	// ReplayCacheSize bounds the number of nonces whose counts are
	// remembered; 0 means 65536. When more nonces are in use within
	// NonceTTL, those first used earliest are forgotten, and
	// credentials that use a forgotten nonce (or any nonce issued before
	// it) are answered stale=true so that the client retries with a fresh
	// nonce: a replay is never accepted because of forgetting.
	ReplayCacheSize int

	once   sync.Once
	secret []byte
	dummy  map[Algorithm]string // HA1 used for unknown users
	cache  replayCache
	lim    limiter
	now    func() time.Time // for tests; nil means time.Now
}

func (s *Server) init() {
	s.once.Do(func() {
		if len(s.Secret) > 0 {
			s.secret = slices.Clone(s.Secret)
		} else {
			s.secret = make([]byte, 32)
			rand.Read(s.secret)
		}
		s.dummy = make(map[Algorithm]string)
		for _, a := range []Algorithm{MD5, SHA256, SHA512_256} {
			var b [32]byte
			rand.Read(b[:])
			s.dummy[a] = a.h(hex.EncodeToString(b[:]))
		}
		s.cache.max = s.ReplayCacheSize
		if s.cache.max <= 0 {
			s.cache.max = 65536
		}
		s.cache.ttl = s.ttl()
	})
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Server) ttl() time.Duration {
	if s.NonceTTL > 0 {
		return s.NonceTTL
	}
	return 5 * time.Minute
}

func (s *Server) algorithms() []Algorithm {
	if len(s.Algorithms) > 0 {
		return s.Algorithms
	}
	return []Algorithm{SHA256, MD5}
}

func (s *Server) offers(a Algorithm) bool {
	for _, o := range s.algorithms() {
		if c, _ := canonical(o); c == a {
			return true
		}
	}
	return false
}

func (s *Server) realmFor(req *sip.Request) string {
	if s.Realm != "" {
		return s.Realm
	}
	if req.Method == sip.REGISTER {
		return req.URI.Host
	}
	if f := req.From(); f != nil {
		return f.URI.Host
	}
	return ""
}

// headers returns the header field names for challenges and
// credentials.
func (s *Server) headers() (challenge, credentials string) {
	if s.Proxy {
		return "Proxy-Authenticate", "Proxy-Authorization"
	}
	return "WWW-Authenticate", "Authorization"
}

// applies reports whether the middleware authenticates req.
func (s *Server) applies(req *sip.Request) bool {
	if len(s.Methods) > 0 {
		if !slices.Contains(s.Methods, req.Method) {
			return false
		}
	} else if req.Method == sip.ACK || req.Method == sip.CANCEL {
		return false
	}
	if len(s.Domains) == 0 || req.Method == sip.REGISTER {
		return true
	}
	f := req.From()
	if f == nil {
		return true // let the credentials decide; never skip on a broken From
	}
	return slices.ContainsFunc(s.Domains, func(d string) bool { return strings.EqualFold(d, f.URI.Host) })
}

// Challenge returns the 401 (or, for a Proxy, 407) response that
// challenges req, with one challenge per algorithm of s.Algorithms in
// order, all with the same fresh nonce, qop "auth" and, if stale is true,
// stale=true (RFC 3261 §22.1, RFC 7616 §3.3).
func (s *Server) Challenge(req *sip.Request, stale bool) *sip.Response {
	return s.challenge(req, stale, s.clock())
}

func (s *Server) challenge(req *sip.Request, stale bool, now time.Time) *sip.Response {
	s.init()
	code := sip.StatusUnauthorized
	if s.Proxy {
		code = sip.StatusProxyAuthenticationRequired
	}
	res := sip.NewResponse(req, code)
	name, _ := s.headers()
	realm := s.realmFor(req)
	nonce := newNonce(s.secret, realm, now)
	qop := `"auth"`
	if s.AuthInt {
		qop = `"auth,auth-int"`
	}
	for _, a := range s.algorithms() {
		c, ok := canonical(a)
		if !ok || !c.Known() {
			continue
		}
		v := "Digest realm=" + quote(realm) + ", nonce=" + quote(nonce) + ", algorithm=" + string(c) + ", qop=" + qop
		if stale {
			v += ", stale=true"
		}
		_ = res.Add(name, v)
	}
	return res
}

// Verify checks the Digest credentials that req carries for the server's
// realm at time now and returns the user name they claim (empty when
// there are none) and the verdict. The user name is authenticated only if
// the result is [Authenticated]. Verify records the nonce-count of
// accepted credentials, so the same credentials verify only once.
//
// It checks that username, realm, nonce, uri and response are present
// (and qop, cnonce and nc unless AllowRFC2069), that the algorithm is one
// offered, that uri equals the Request-URI compared as URIs (RFC 7616
// §3.4.6, RFC 3261 §19.1.4), recomputes the response from the user's HA1
// and compares it in constant time, then checks the nonce's MAC and age
// and the nonce-count. An unknown user costs the same work as a known one.
// credentials are the auth-params of a Digest credentials value that
// Verify reads, unquoted.
type credentials struct {
	username, realm, nonce, uri, response string
	algorithm, qop, cnonce, nc            string
	hasAlgorithm, hasQop                  bool
}

// readCredentials reads cred's parameters in one pass (Auth.Get per name
// would scan the list, quoted strings included, once for each). As with
// Get, the first occurrence of a name counts.
func readCredentials(cred sip.Auth) credentials {
	var c credentials
	var seen uint16
	set := func(bit uint16, dst *string, v string) {
		if seen&bit == 0 {
			seen |= bit
			*dst = abnf.Unquote(v)
		}
	}
	for n, v := range cred.All() {
		switch {
		case abnf.EqualFold(n, "username"):
			set(1, &c.username, v)
		case abnf.EqualFold(n, "nonce"):
			set(2, &c.nonce, v)
		case abnf.EqualFold(n, "uri"):
			set(4, &c.uri, v)
		case abnf.EqualFold(n, "response"):
			set(8, &c.response, v)
		case abnf.EqualFold(n, "algorithm"):
			set(16, &c.algorithm, v)
			c.hasAlgorithm = true
		case abnf.EqualFold(n, "qop"):
			set(32, &c.qop, v)
			c.hasQop = true
		case abnf.EqualFold(n, "cnonce"):
			set(64, &c.cnonce, v)
		case abnf.EqualFold(n, "nc"):
			set(128, &c.nc, v)
		case abnf.EqualFold(n, "realm"):
			set(256, &c.realm, v)
		}
	}
	return c
}

func (s *Server) Verify(req *sip.Request, now time.Time) (user string, result Result) {
	s.init()
	realm := s.realmFor(req)
	_, hdr := s.headers()
	auths, err := req.Auths(hdr)
	if err != nil {
		return "", Malformed
	}
	var c credentials
	found := false
	for _, a := range auths {
		if !strings.EqualFold(a.Scheme, "Digest") {
			continue
		}
		if c = readCredentials(a); c.realm == realm {
			found = true
			break
		}
	}
	if !found {
		return "", NoCredentials
	}
	user = c.username
	nonce, uri, response := c.nonce, c.uri, c.response
	if user == "" || nonce == "" || uri == "" || response == "" {
		return user, Malformed
	}
	alg := MD5
	if a, ok := c.algorithm, c.hasAlgorithm; ok {
		c, known := canonical(Algorithm(a))
		if !known || !c.Known() {
			return user, Failed
		}
		alg = c
	}
	if !s.offers(alg) {
		return user, Failed
	}
	qop, hasQop := c.qop, c.hasQop
	cnonce, ncs := c.cnonce, c.nc
	var nc uint64
	switch {
	case !hasQop:
		if !s.AllowRFC2069 {
			return user, Malformed
		}
		qop, cnonce, ncs = "", "", ""
	case qop == "auth" || qop == "auth-int" && s.AuthInt:
		if cnonce == "" || len(ncs) != 8 {
			return user, Malformed
		}
		nc, err = strconv.ParseUint(ncs, 16, 32)
		if err != nil || nc == 0 {
			return user, Malformed
		}
	default:
		return user, Malformed
	}
	if !s.uriMatches(req, uri) {
		return user, Malformed
	}

	ha1, known := "", false
	if s.Users != nil {
		ha1, known = s.Users.Lookup(user, realm, alg)
	}
	if !known {
		ha1 = s.dummy[alg]
	}
	want := Response(alg, ha1, nonce, ncs, cnonce, qop, string(req.Method), uri, req.Body)
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(response))) == 1
	if !match || !known {
		return user, Failed
	}
	issued, ok := checkNonce(s.secret, realm, nonce)
	if !ok || now.Sub(issued) > s.ttl() || issued.After(now.Add(time.Minute)) {
		return user, Stale
	}
	if hasQop {
		switch s.cache.use(nonce, issued, nc, now) {
		case replayRepeated:
			return user, Replayed
		case replayForgotten:
			return user, Stale
		}
	}
	return user, Authenticated
}

// uriMatches compares the uri of the credentials with the Request-URI as
// URIs, falling back to text when uri does not parse.
func (s *Server) uriMatches(req *sip.Request, uri string) bool {
	if u, err := sip.ParseURI(uri); err == nil {
		return u.Equal(&req.URI)
	}
	return uri == string(req.URI.AppendTo(nil))
}

type userKeyCtx struct{}

// WithUser returns a copy of ctx that carries user as the authenticated
// user, as the middleware does.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKeyCtx{}, user)
}

// User returns the user that the [Server.Middleware] authenticated for the
// request whose handler received ctx.
func User(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKeyCtx{}).(string)
	return u, ok
}

// Middleware returns middleware that authenticates the requests that
// Methods and Domains select. A request with valid credentials goes to
// the next handler with the user in its context ([User]). Otherwise the
// middleware answers: 401 or 407 with fresh challenges (stale=true when
// only the nonce was out of date), 400 for malformed credentials, and
// RateLimit.Status with Retry-After to a source that failed too often.
// Unknown users and wrong passwords get the same response.
func (s *Server) Middleware() stack.Middleware {
	return func(next stack.Handler) stack.Handler {
		return stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
			if !s.applies(r) {
				next.ServeSIP(ctx, w, r)
				return
			}
			s.init()
			now := s.clock()
			src, limited := source(w)
			limited = limited && !s.RateLimit.Disabled
			if limited {
				if ok, wait := s.lim.allowed(&s.RateLimit, src, now); !ok {
					res := sip.NewResponse(r, s.RateLimit.status())
					secs := max(int64((wait+time.Second-1)/time.Second), 1)
					_ = res.Set("Retry-After", strconv.FormatInt(secs, 10))
					_ = w.Respond(res)
					return
				}
			}
			user, result := s.Verify(r, now)
			switch result {
			case Authenticated:
				next.ServeSIP(WithUser(ctx, user), w, r)
				return
			case NoCredentials:
				_ = w.Respond(s.challenge(r, false, now))
				return
			case Stale:
				_ = w.Respond(s.challenge(r, true, now))
				return
			}
			if limited {
				s.lim.fail(&s.RateLimit, src, now)
			}
			if result == Malformed {
				_ = w.Respond(sip.NewResponse(r, sip.StatusBadRequest))
				return
			}
			_ = w.Respond(s.challenge(r, false, now))
		})
	}
}

// source returns the source address of the request w answers.
func source(w stack.ResponseWriter) (netip.Addr, bool) {
	fw, ok := w.(stack.FlowWriter)
	if !ok {
		return netip.Addr{}, false
	}
	f := fw.Flow()
	if !f.Remote.IsValid() {
		return netip.Addr{}, false
	}
	return f.Remote.Addr().Unmap(), true
}
