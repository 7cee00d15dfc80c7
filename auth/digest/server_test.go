package digest

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

const realm = "example.com"

// recorder is a stack.ResponseWriter and stack.FlowWriter that records
// responses.
type recorder struct {
	remote    netip.AddrPort
	responses []*sip.Response
}

func (r *recorder) Respond(res *sip.Response) error {
	r.responses = append(r.responses, res)
	return nil
}

func (r *recorder) Responded() bool { return len(r.responses) > 0 }

func (r *recorder) Flow() transport.Flow {
	return transport.Flow{Network: transport.UDP, Remote: r.remote}
}

func (r *recorder) last(t *testing.T) *sip.Response {
	t.Helper()
	if len(r.responses) != 1 {
		t.Fatalf("got %d responses, want 1", len(r.responses))
	}
	return r.responses[0]
}

var (
	ipA = netip.MustParseAddrPort("192.0.2.1:5060")
	ipB = netip.MustParseAddrPort("[2001:db8::2]:5060")
)

func newRequest(m sip.Method, user string) *sip.Request {
	u := sip.URI{Scheme: "sip", Host: realm}
	if m != sip.REGISTER {
		u = sip.URI{Scheme: "sip", User: "bob", Host: realm}
	}
	req := sip.NewRequest(m, u)
	req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: realm}, Params: sip.Params(";tag=" + sip.NewTag())})
	req.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: realm}})
	req.SetCallID(sip.NewCallID(""))
	req.SetCSeq(sip.CSeq{Seq: 1, Method: m})
	req.SetMaxForwards(70)
	return req
}

// env is a Server with a fake clock and a handler that records who got
// through.
type env struct {
	t      *testing.T
	srv    *Server
	now    time.Time
	h      stack.Handler
	passed []string
}

func newEnv(t *testing.T, configure func(*Server)) *env {
	users := &Users{}
	if err := users.SetPassword("alice", realm, "secret"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.srv = &Server{Realm: realm, Users: users, Secret: []byte("test secret")}
	e.srv.now = func() time.Time { return e.now }
	if configure != nil {
		configure(e.srv)
	}
	e.h = e.srv.Middleware()(stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		u, ok := User(ctx)
		if !ok {
			u = "<none>"
		}
		e.passed = append(e.passed, u)
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}))
	return e
}

// serve runs req through the middleware from src and returns the response.
func (e *env) serve(req *sip.Request, src netip.AddrPort) *sip.Response {
	e.t.Helper()
	w := &recorder{remote: src}
	e.h.ServeSIP(context.Background(), w, req)
	return w.last(e.t)
}

func (e *env) challenges(res *sip.Response) []sip.Auth {
	e.t.Helper()
	name := "WWW-Authenticate"
	if e.srv.Proxy {
		name = "Proxy-Authenticate"
	}
	cs, err := res.Auths(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// answer adds credentials for the chosen challenge of res to req.
func (e *env) answer(req *sip.Request, res *sip.Response, user, password string, nc uint32) {
	e.t.Helper()
	ch, ok := Choose(e.challenges(res))
	if !ok {
		e.t.Fatalf("no usable challenge in %v", res)
	}
	e.answerTo(req, ch, user, password, nc)
}

func (e *env) answerTo(req *sip.Request, ch sip.Auth, user, password string, nc uint32) {
	e.t.Helper()
	cred, err := Answer(ch, req.Method, string(req.URI.AppendTo(nil)), user, password, req.Body, nil, nc)
	if err != nil {
		e.t.Fatal(err)
	}
	name := "Authorization"
	if e.srv.Proxy {
		name = "Proxy-Authorization"
	}
	_ = req.Set(name, Value(cred))
}

func TestMiddlewareFlow(t *testing.T) {
	for _, algs := range [][]Algorithm{nil, {SHA512_256, SHA256, MD5}, {MD5}, {SHA256}} {
		t.Run(strings.Join(slices.Collect(func(yield func(string) bool) {
			for _, a := range algs {
				yield(string(a))
			}
		}), ","), func(t *testing.T) {
			e := newEnv(t, func(s *Server) { s.Algorithms = algs })
			req := newRequest(sip.REGISTER, "alice")
			res := e.serve(req, ipA)
			if res.StatusCode != sip.StatusUnauthorized {
				t.Fatalf("first request: %d, want 401", res.StatusCode)
			}
			want := algs
			if want == nil {
				want = []Algorithm{SHA256, MD5}
			}
			cs := e.challenges(res)
			if len(cs) != len(want) {
				t.Fatalf("%d challenges, want %d", len(cs), len(want))
			}
			for i, c := range cs {
				alg, _ := c.Get("algorithm")
				qop, _ := c.Get("qop")
				r, _ := c.Get("realm")
				if alg != string(want[i]) || qop != "auth" || r != realm {
					t.Errorf("challenge %d = %s", i, Value(c))
				}
				if _, ok := c.Get("stale"); ok {
					t.Errorf("first challenge has stale")
				}
			}
			// Answer each offered challenge; they share one nonce, so the
			// nonce-count goes up.
			for i, c := range cs {
				req := newRequest(sip.REGISTER, "alice")
				e.answerTo(req, c, "alice", "secret", uint32(i+1))
				if res := e.serve(req, ipA); res.StatusCode != sip.StatusOK {
					t.Fatalf("answer to challenge %d: %d", i, res.StatusCode)
				}
			}
			if len(e.passed) != len(cs) || e.passed[0] != "alice" {
				t.Errorf("handler saw users %q", e.passed)
			}
		})
	}
}

// shape is a response without what differs between two challenges: the
// nonce and the To tag.
func shape(t *testing.T, res *sip.Response, nonce string) string {
	t.Helper()
	s := strings.ReplaceAll(res.String(), nonce, "NONCE")
	s = strings.ReplaceAll(s, res.To().Tag(), "TAG")
	return s
}

func TestNoEnumeration(t *testing.T) {
	e := newEnv(t, nil)
	first := e.serve(newRequest(sip.REGISTER, "alice"), ipA)

	try := func(user, password string) *sip.Response {
		req := newRequest(sip.REGISTER, user)
		req.SetCallID("fixed@call")
		req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "x", Host: realm}, Params: ";tag=1"})
		req.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "x", Host: realm}})
		e.answer(req, first, user, password, 1)
		return e.serve(req, ipA)
	}
	wrong := try("alice", "wrong")
	unknown := try("mallory", "secret")
	for _, res := range []*sip.Response{wrong, unknown} {
		if res.StatusCode != sip.StatusUnauthorized {
			t.Fatalf("status %d, want 401", res.StatusCode)
		}
	}
	n1, _ := e.challenges(wrong)[0].Get("nonce")
	n2, _ := e.challenges(unknown)[0].Get("nonce")
	if a, b := shape(t, wrong, n1), shape(t, unknown, n2); a != b {
		t.Errorf("wrong password and unknown user differ:\n%s\n---\n%s", a, b)
	}
	if u, r := e.srv.Verify(func() *sip.Request {
		req := newRequest(sip.REGISTER, "mallory")
		e.answer(req, first, "mallory", "secret", 1)
		return req
	}(), e.now); r != Failed || u != "mallory" {
		t.Errorf("unknown user: %q %v, want Failed", u, r)
	}
}

func TestStale(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.NonceTTL = time.Minute })
	first := e.serve(newRequest(sip.REGISTER, "alice"), ipA)
	e.now = e.now.Add(2 * time.Minute)

	req := newRequest(sip.REGISTER, "alice")
	e.answer(req, first, "alice", "secret", 1)
	res := e.serve(req, ipA)
	if res.StatusCode != sip.StatusUnauthorized {
		t.Fatalf("expired nonce: %d, want 401", res.StatusCode)
	}
	for _, c := range e.challenges(res) {
		if s, _ := c.Get("stale"); s != "true" {
			t.Errorf("challenge without stale=true: %s", Value(c))
		}
	}
	// Retrying with the new nonce works without the user.
	req = newRequest(sip.REGISTER, "alice")
	e.answer(req, res, "alice", "secret", 1)
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusOK {
		t.Fatalf("after stale: %d", res.StatusCode)
	}

	// An expired nonce with a wrong password is not stale.
	e.now = e.now.Add(2 * time.Minute)
	req = newRequest(sip.REGISTER, "alice")
	e.answer(req, res, "alice", "wrong", 2)
	res = e.serve(req, ipA)
	for _, c := range e.challenges(res) {
		if _, ok := c.Get("stale"); ok {
			t.Errorf("wrong password got stale: %s", Value(c))
		}
	}
}

func TestReplay(t *testing.T) {
	e := newEnv(t, nil)
	first := e.serve(newRequest(sip.REGISTER, "alice"), ipA)
	req := newRequest(sip.REGISTER, "alice")
	e.answer(req, first, "alice", "secret", 1)
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusOK {
		t.Fatalf("first use: %d", res.StatusCode)
	}
	res := e.serve(req.Clone(), ipA)
	if res.StatusCode != sip.StatusUnauthorized {
		t.Fatalf("replay: %d, want 401", res.StatusCode)
	}
	for _, c := range e.challenges(res) {
		if _, ok := c.Get("stale"); ok {
			t.Errorf("replay got stale: %s", Value(c))
		}
	}
	if _, r := e.srv.Verify(req, e.now); r != Replayed {
		t.Errorf("Verify of replay = %v", r)
	}
	// A higher nc with the same nonce is fine, a lower one is not.
	for _, tc := range []struct {
		nc   uint32
		want sip.StatusCode
	}{{3, sip.StatusOK}, {2, sip.StatusUnauthorized}, {4, sip.StatusOK}, {4, sip.StatusUnauthorized}} {
		req := newRequest(sip.REGISTER, "alice")
		e.answer(req, first, "alice", "secret", tc.nc)
		if res := e.serve(req, ipA); res.StatusCode != tc.want {
			t.Errorf("nc %d: %d, want %d", tc.nc, res.StatusCode, tc.want)
		}
	}
}

func TestTamperedNonce(t *testing.T) {
	e := newEnv(t, nil)
	first := e.serve(newRequest(sip.REGISTER, "alice"), ipA)
	ch, _ := Choose(e.challenges(first))
	nonce, _ := ch.Get("nonce")
	b := []byte(nonce)
	if b[3] == 'A' { // another character of the base64 alphabet
		b[3] = 'B'
	} else {
		b[3] = 'A'
	}
	tampered := string(b)

	// Credentials computed over the original nonce but sent with another.
	req := newRequest(sip.REGISTER, "alice")
	e.answer(req, first, "alice", "secret", 1)
	v := strings.Replace(req.Get("Authorization"), nonce, tampered, 1)
	_ = req.Set("Authorization", v)
	if _, r := e.srv.Verify(req, e.now); r != Failed {
		t.Errorf("tampered nonce, old response: %v, want Failed", r)
	}
	// Credentials computed over a nonce the server never issued: the
	// password is right but the nonce is not ours (RFC 7616 §3.3 stale).
	req = newRequest(sip.REGISTER, "alice")
	forged := sip.Auth{Scheme: "Digest", Params: strings.Replace(ch.Params, nonce, tampered, 1)}
	e.answerTo(req, forged, "alice", "secret", 1)
	res := e.serve(req, ipA)
	if res.StatusCode != sip.StatusUnauthorized || len(e.passed) != 0 {
		t.Fatalf("forged nonce: %d, passed %q", res.StatusCode, e.passed)
	}
	if _, r := e.srv.Verify(req, e.now); r != Stale {
		t.Errorf("forged nonce, right password: %v, want Stale", r)
	}
	// A nonce of another server (another secret) is not accepted either.
	other := &Server{Realm: realm, Users: e.srv.Users, Secret: []byte("other")}
	req = newRequest(sip.REGISTER, "alice")
	e.answer(req, other.Challenge(newRequest(sip.REGISTER, "alice"), false), "alice", "secret", 1)
	if _, r := e.srv.Verify(req, e.now); r != Stale {
		t.Errorf("foreign nonce: %v, want Stale", r)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.RateLimit = RateLimit{Burst: 3, Interval: 10 * time.Second} })
	first := e.serve(newRequest(sip.REGISTER, "alice"), ipA)
	bad := func() *sip.Request {
		req := newRequest(sip.REGISTER, "alice")
		e.answer(req, first, "alice", "guess", 1)
		return req
	}
	for i := range 3 {
		if res := e.serve(bad(), ipA); res.StatusCode != sip.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i, res.StatusCode)
		}
	}
	res := e.serve(bad(), ipA)
	if res.StatusCode != sip.StatusForbidden || res.Get("Retry-After") != "10" {
		t.Fatalf("over the limit: %d Retry-After %q, want 403 and 10", res.StatusCode, res.Get("Retry-After"))
	}
	// Even the right password is refused while limited...
	good := newRequest(sip.REGISTER, "alice")
	e.answer(good, first, "alice", "secret", 1)
	if res := e.serve(good, ipA); res.StatusCode != sip.StatusForbidden {
		t.Errorf("limited source with right password: %d", res.StatusCode)
	}
	// ...another source is not limited...
	if res := e.serve(good, ipB); res.StatusCode != sip.StatusOK {
		t.Errorf("other source: %d, want 200", res.StatusCode)
	}
	// ...and the source regains an attempt with time.
	e.now = e.now.Add(10 * time.Second)
	if res := e.serve(bad(), ipA); res.StatusCode != sip.StatusUnauthorized {
		t.Errorf("after Interval: %d, want 401", res.StatusCode)
	}
	if res := e.serve(bad(), ipA); res.StatusCode != sip.StatusForbidden {
		t.Errorf("attempt used again: %d, want 403", res.StatusCode)
	}
	// Requests without credentials and the IPv4-mapped form share the bucket.
	if res := e.serve(newRequest(sip.REGISTER, "alice"), netip.MustParseAddrPort("[::ffff:192.0.2.1]:5060")); res.StatusCode != sip.StatusForbidden {
		t.Errorf("mapped address: %d, want 403", res.StatusCode)
	}

	e2 := newEnv(t, func(s *Server) {
		s.RateLimit = RateLimit{Burst: 1, Status: sip.StatusServiceUnavailable}
	})
	first = e2.serve(newRequest(sip.REGISTER, "alice"), ipA)
	req := newRequest(sip.REGISTER, "alice")
	e2.answer(req, first, "alice", "guess", 1)
	e2.serve(req, ipA)
	if res := e2.serve(req.Clone(), ipA); res.StatusCode != sip.StatusServiceUnavailable || res.Get("Retry-After") == "" {
		t.Errorf("Status 503: %d %q", res.StatusCode, res.Get("Retry-After"))
	}

	e3 := newEnv(t, func(s *Server) { s.RateLimit.Disabled = true })
	for range 20 {
		if res := e3.serve(bad(), ipA); res.StatusCode != sip.StatusUnauthorized {
			t.Fatalf("disabled limit: %d", res.StatusCode)
		}
	}
}

func TestLimiterBounded(t *testing.T) {
	cfg := &RateLimit{Burst: 2, Interval: time.Second, MaxSources: 4}
	var l limiter
	now := time.Unix(1000, 0)
	for i := range 100 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		l.fail(cfg, a, now)
		if n := l.len(); n > 4 {
			t.Fatalf("%d sources tracked, max 4", n)
		}
	}
	// Full buckets are evicted first.
	var l2 limiter
	hot := netip.MustParseAddr("10.9.9.9")
	l2.fail(cfg, hot, now)
	l2.fail(cfg, hot, now)
	for i := range 3 {
		l2.fail(cfg, netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), now)
	}
	later := now.Add(time.Second) // the three single failures have refilled, hot has not
	l2.fail(cfg, netip.MustParseAddr("10.2.0.1"), later)
	if _, ok := l2.buckets[hot]; !ok {
		t.Error("hot source forgotten while full buckets existed")
	}
	if l2.len() != 2 {
		t.Errorf("%d sources, want 2", l2.len())
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := replayCache{max: 2, ttl: time.Minute}
	t0 := time.Unix(1000, 0)
	if c.use("a", t0, 1, t0) != replayOK || c.use("b", t0.Add(1), 1, t0) != replayOK {
		t.Fatal("fresh nonces refused")
	}
	if c.use("a", t0, 1, t0) != replayRepeated {
		t.Error("repeat not detected")
	}
	if c.use("c", t0.Add(2), 1, t0) != replayOK {
		t.Fatal("third nonce refused")
	}
	if c.len() != 2 {
		t.Errorf("len %d, want 2", c.len())
	}
	// "a" was forgotten: its reuse must not pass as fresh.
	if v := c.use("a", t0, 1, t0); v != replayForgotten {
		t.Errorf("forgotten nonce: %v, want replayForgotten", v)
	}
	// Expired entries go without raising the watermark.
	later := t0.Add(2 * time.Minute)
	if c.use("d", later, 1, later) != replayOK || c.use("e", later.Add(1), 1, later) != replayOK {
		t.Error("fresh nonces refused after expiry")
	}
	if !c.watermark.Equal(t0) {
		t.Errorf("watermark %v, want %v", c.watermark, t0)
	}
}

func TestProxyMode(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Proxy = true })
	req := newRequest(sip.INVITE, "alice")
	res := e.serve(req, ipA)
	if res.StatusCode != sip.StatusProxyAuthenticationRequired || !res.Has("Proxy-Authenticate") || res.Has("WWW-Authenticate") {
		t.Fatalf("proxy challenge: %v", res)
	}
	// Credentials in Authorization are not for the proxy.
	req = newRequest(sip.INVITE, "alice")
	ch, _ := Choose(e.challenges(res))
	cred, _ := Answer(ch, sip.INVITE, string(req.URI.AppendTo(nil)), "alice", "secret", nil, nil, 1)
	_ = req.Set("Authorization", Value(cred))
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusProxyAuthenticationRequired {
		t.Errorf("Authorization to a proxy: %d", res.StatusCode)
	}
	req = newRequest(sip.INVITE, "alice")
	_ = req.Set("Proxy-Authorization", Value(cred))
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusOK || e.passed[0] != "alice" {
		t.Errorf("Proxy-Authorization: %d %q", res.StatusCode, e.passed)
	}
}

func TestVerifyCases(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Algorithms = []Algorithm{SHA256} })
	good := func() *sip.Request {
		ch, _ := Choose(e.challenges(e.srv.Challenge(newRequest(sip.INVITE, "alice"), false)))
		req := newRequest(sip.INVITE, "alice")
		e.answerTo(req, ch, "alice", "secret", 1)
		return req
	}
	edit := func(f func(v string) string) func() *sip.Request {
		return func() *sip.Request {
			req := good()
			_ = req.Set("Authorization", f(req.Get("Authorization")))
			return req
		}
	}
	drop := func(param string) func() *sip.Request {
		return func() *sip.Request {
			req := good()
			a, _ := sip.ParseAuth(req.Get("Authorization"))
			var kept []string
			for n, v := range a.All() {
				if !strings.EqualFold(n, param) {
					kept = append(kept, n+"="+v)
				}
			}
			_ = req.Set("Authorization", "Digest "+strings.Join(kept, ", "))
			return req
		}
	}
	tests := []struct {
		name string
		req  func() *sip.Request
		want Result
	}{
		{"good", good, Authenticated},
		{"none", func() *sip.Request { return newRequest(sip.INVITE, "alice") }, NoCredentials},
		{"other realm", edit(func(v string) string { return strings.Replace(v, `realm="example.com"`, `realm="elsewhere"`, 1) }), NoCredentials},
		{"basic", func() *sip.Request {
			req := newRequest(sip.INVITE, "alice")
			_ = req.Set("Authorization", `Basic realm="example.com"`)
			return req
		}, NoCredentials},
		{"unparseable", func() *sip.Request {
			req := newRequest(sip.INVITE, "alice")
			_ = req.Set("Authorization", `Digest realm`)
			return req
		}, Malformed},
		{"no username", drop("username"), Malformed},
		{"no nonce", drop("nonce"), Malformed},
		{"no uri", drop("uri"), Malformed},
		{"no response", drop("response"), Malformed},
		{"no cnonce", drop("cnonce"), Malformed},
		{"no nc", drop("nc"), Malformed},
		{"no qop", drop("qop"), Malformed},
		{"bad nc", edit(func(v string) string { return strings.Replace(v, "nc=00000001", "nc=0000000g", 1) }), Malformed},
		{"zero nc", edit(func(v string) string { return strings.Replace(v, "nc=00000001", "nc=00000000", 1) }), Malformed},
		{"qop auth-int not offered", edit(func(v string) string { return strings.Replace(v, "qop=auth", "qop=auth-int", 1) }), Malformed},
		{"uri mismatch", edit(func(v string) string { return strings.Replace(v, "sip:bob@example.com", "sip:carol@example.com", 1) }), Malformed},
		{"uri equal as URI", edit(func(v string) string { return strings.Replace(v, "sip:bob@example.com", "sip:bob@EXAMPLE.com", 1) }), Failed}, // matches, but the digest covers the text
		{"algorithm not offered", drop("algorithm"), Failed},
		{"wrong response", edit(func(v string) string { return strings.Replace(v, `response="`, `response="0`, 1) }), Failed},
		{"response upper case", edit(func(v string) string {
			a, _ := sip.ParseAuth(v)
			r, _ := a.Get("response")
			return strings.Replace(v, r, strings.ToUpper(r), 1)
		}), Authenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := e.srv.Verify(tt.req(), e.now); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMalformedAnswered400(t *testing.T) {
	e := newEnv(t, nil)
	req := newRequest(sip.REGISTER, "alice")
	_ = req.Set("Authorization", `Digest username="alice", realm="example.com"`)
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", res.StatusCode)
	}
}

func TestRFC2069AndAuthInt(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.AllowRFC2069 = true; s.AuthInt = true })
	res := e.serve(newRequest(sip.MESSAGE, "alice"), ipA)
	ch, _ := Choose(e.challenges(res))
	if q, _ := ch.Get("qop"); q != "auth,auth-int" {
		t.Errorf("qop offered %q", q)
	}
	// A legacy client ignores qop.
	legacy := sip.Auth{Scheme: "Digest", Params: strings.Replace(ch.Params, `, qop="auth,auth-int"`, "", 1)}
	req := newRequest(sip.MESSAGE, "alice")
	e.answerTo(req, legacy, "alice", "secret", 1)
	if res := e.serve(req, ipA); res.StatusCode != sip.StatusOK {
		t.Errorf("RFC 2069 credentials: %d", res.StatusCode)
	}
	// auth-int covers the body.
	intOnly := sip.Auth{Scheme: "Digest", Params: strings.Replace(ch.Params, `qop="auth,auth-int"`, `qop="auth-int"`, 1)}
	req = newRequest(sip.MESSAGE, "alice")
	req.SetBody("text/plain", []byte("hello"))
	e.answerTo(req, intOnly, "alice", "secret", 1)
	if _, r := e.srv.Verify(req.Clone(), e.now); r != Authenticated {
		t.Errorf("auth-int: %v", r)
	}
	req.SetBody("text/plain", []byte("hellO"))
	if _, r := e.srv.Verify(req, e.now); r != Failed {
		t.Errorf("auth-int with changed body: %v, want Failed", r)
	}
}

func TestMethodsAndDomains(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Domains = []string{"EXAMPLE.com"} })
	for _, m := range []sip.Method{sip.ACK, sip.CANCEL} {
		if res := e.serve(newRequest(m, "alice"), ipA); res.StatusCode != sip.StatusOK {
			t.Errorf("%s challenged", m)
		}
	}
	foreign := newRequest(sip.INVITE, "carol")
	foreign.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "carol", Host: "elsewhere.org"}, Params: ";tag=x"})
	if res := e.serve(foreign, ipA); res.StatusCode != sip.StatusOK || e.passed[len(e.passed)-1] != "<none>" {
		t.Errorf("foreign user challenged: %d", res.StatusCode)
	}
	if res := e.serve(newRequest(sip.INVITE, "alice"), ipA); res.StatusCode != sip.StatusUnauthorized {
		t.Errorf("local user not challenged: %d", res.StatusCode)
	}
	e2 := newEnv(t, func(s *Server) { s.Methods = []sip.Method{sip.REGISTER} })
	if res := e2.serve(newRequest(sip.INVITE, "alice"), ipA); res.StatusCode != sip.StatusOK {
		t.Errorf("INVITE challenged with Methods=[REGISTER]: %d", res.StatusCode)
	}
	if res := e2.serve(newRequest(sip.REGISTER, "alice"), ipA); res.StatusCode != sip.StatusUnauthorized {
		t.Errorf("REGISTER not challenged: %d", res.StatusCode)
	}
}

func TestDefaultRealmAndZeroServer(t *testing.T) {
	var s Server // zero value: random secret, no users
	req := newRequest(sip.REGISTER, "alice")
	res := s.Challenge(req, false)
	cs, _ := res.Auths("WWW-Authenticate")
	if len(cs) != 2 {
		t.Fatalf("%d challenges", len(cs))
	}
	if r, _ := cs[0].Get("realm"); r != realm {
		t.Errorf("default realm %q, want the Request-URI host", r)
	}
	e := &env{t: t}
	e.srv = &s
	e.answer(req, res, "alice", "secret", 1)
	if _, r := s.Verify(req, time.Now()); r != Failed {
		t.Errorf("zero server verified %v", r)
	}
	if _, ok := User(context.Background()); ok {
		t.Error("User in empty context")
	}
	if Result(42).String() != "Result(42)" || Stale.String() != "stale" {
		t.Error("Result.String")
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(`Digest username="alice", realm="example.com", nonce="abc", uri="sip:bob@example.com", response="00", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"`)
	f.Add(`Digest realm="example.com", username="a\"b"`)
	f.Add(`Digest ,,, realm=example.com, nc=ffffffff`)
	f.Add(`Basic abc`)
	users := &Users{}
	_ = users.SetPassword("alice", realm, "secret")
	s := &Server{Realm: realm, Users: users, AllowRFC2069: true, AuthInt: true}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		req := newRequest(sip.INVITE, "alice")
		if err := req.Set("Authorization", v); err != nil {
			return
		}
		if _, r := s.Verify(req, now); r == Authenticated {
			t.Errorf("fuzzed credentials authenticated: %q", v)
		}
		if a, err := sip.ParseAuth(v); err == nil {
			// Answer must not panic on any challenge either.
			_, _ = Answer(a, sip.INVITE, "sip:bob@example.com", "alice", "secret", nil, nil, 1)
		}
	})
}

func TestConcurrent(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.ReplayCacheSize = 8; s.RateLimit.MaxSources = 4 })
	// A clock that moves: nonces issued at one instant share the replay
	// cache's watermark, and forgetting one would make the others stale.
	var tick atomic.Int64
	start := e.now
	e.srv.now = func() time.Time { return start.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	h := e.srv.Middleware()(stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	}))
	done := make(chan bool)
	for g := range 8 {
		go func() {
			ok := true
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(g)}), 5060)
			for i := range 20 {
				w := &recorder{remote: src}
				h.ServeSIP(context.Background(), w, newRequest(sip.REGISTER, "alice"))
				ch, _ := Choose(func() []sip.Auth { a, _ := w.responses[0].Auths("WWW-Authenticate"); return a }())
				req := newRequest(sip.REGISTER, "alice")
				pw := "secret"
				if i%3 == 0 {
					pw = "wrong"
				}
				cred, _ := Answer(ch, req.Method, "sip:example.com", "alice", pw, nil, nil, 1)
				_ = req.Set("Authorization", Value(cred))
				w = &recorder{remote: src}
				h.ServeSIP(context.Background(), w, req)
				// With more clients than the replay cache holds, a
				// forgotten nonce is answered stale=true, never accepted.
				if res := w.responses[0]; pw == "secret" && res.StatusCode != sip.StatusOK {
					a, _ := res.Auths("WWW-Authenticate")
					if s, _ := a[0].Get("stale"); s != "true" {
						ok = false
					}
				}
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a correct answer was refused")
		}
	}
	if n := e.srv.cache.len(); n > 8 {
		t.Errorf("replay cache holds %d, max 8", n)
	}
	if n := e.srv.lim.len(); n > 4 {
		t.Errorf("limiter holds %d, max 4", n)
	}
}

func TestSeveralCredentials(t *testing.T) {
	e := newEnv(t, nil)
	res := e.srv.Challenge(newRequest(sip.REGISTER, "alice"), false)
	ch, _ := Choose(e.challenges(res))
	req := newRequest(sip.REGISTER, "alice")
	_ = req.Add("Authorization", `Digest username="x", realm="other.org", nonce="n", uri="sip:example.com", response="0"`)
	cred, _ := Answer(ch, req.Method, "sip:example.com", "alice", "secret", nil, nil, 1)
	_ = req.Add("Authorization", Value(cred))
	if u, r := e.srv.Verify(req, e.now); r != Authenticated || u != "alice" {
		t.Errorf("Verify = %q %v", u, r)
	}
}
