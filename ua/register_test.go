package ua

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// registrar is a minimal in-process registrar behind digest auth:
// Expires below 60 s (but not 0) gets 423, otherwise 200 granting at most
// maxGrant.
type registrar struct {
	mu       sync.Mutex
	seen     []*sip.Request
	maxGrant int
}

func (g *registrar) ServeSIP(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
	g.mu.Lock()
	g.seen = append(g.seen, r)
	g.mu.Unlock()
	e, _ := r.Expires()
	if e != 0 && e < 60 && g.maxGrant >= 60 {
		res := sip.NewResponse(r, sip.StatusIntervalTooBrief)
		_ = res.Add("Min-Expires", "60")
		_ = w.Respond(res)
		return
	}
	res := sip.NewResponse(r, sip.StatusOK)
	if e > 0 {
		c := r.Contacts()[0]
		c.Params = c.Params.Set("expires", strconv.Itoa(min(int(e), g.maxGrant)))
		res.SetContacts(c)
	}
	_ = w.Respond(res)
}

func (g *registrar) requests() []*sip.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*sip.Request(nil), g.seen...)
}

func startRegistrar(t *testing.T, maxGrant int) (*registrar, transport.Dest) {
	t.Helper()
	users := &digest.Users{}
	if err := users.SetPassword("alice", "example.com", "s3cret", digest.SHA256, digest.MD5); err != nil {
		t.Fatal(err)
	}
	g := &registrar{maxGrant: maxGrant}
	auth := &digest.Server{Realm: "example.com", Users: users}
	s := &stack.Server{Handler: stack.Chain(g, auth.Middleware())}
	ln, err := s.Listen(t.Context(), transport.UDP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return g, transport.Dest{Network: transport.UDP, Addr: ln.Addr()}
}

func newRegistration(t *testing.T, d transport.Dest, password string) *Registration {
	c := &stack.Client{}
	t.Cleanup(func() { c.Close() })
	return &Registration{
		Client:    c,
		Registrar: sip.URI{Scheme: "sip", Host: "example.com"},
		AoR:       sip.URI{Scheme: "sip", User: "alice", Host: "example.com"},
		Contact:   sip.URI{Scheme: "sip", User: "alice", Host: "192.0.2.10", Port: 5070},
		Expires:   30 * time.Second,
		User:      "alice",
		Password:  password,
		Options:   []stack.Option{stack.WithDest(d)},
	}
}

func TestRegisterAuthAnd423(t *testing.T) {
	g, d := startRegistrar(t, 120)
	r := newRegistration(t, d, "s3cret")
	res, err := r.Register(t.Context())
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("Register: %v %v", res, err)
	}
	if r.Granted() != 60*time.Second {
		t.Errorf("granted %v, want 60s after the 423", r.Granted())
	}
	seen := g.requests()
	// CSeq 1 gets the middleware's 401; the registrar sees CSeq 2
	// (authenticated, 30 s: 423) and CSeq 3 (60 s, same nonce with nc=2:
	// 200), all with one Call-ID.
	if len(seen) != 2 {
		t.Fatalf("registrar saw %d requests, want 2", len(seen))
	}
	for i, req := range seen {
		cs, _ := req.CSeq()
		if req.CallID() != seen[0].CallID() || cs.Seq != uint32(i+2) {
			t.Errorf("request %d: Call-ID %q CSeq %d", i, req.CallID(), cs.Seq)
		}
	}
	if e, _ := seen[1].Expires(); e != 60 {
		t.Errorf("retry after 423 asked for %d s", e)
	}
	if err := r.Unregister(t.Context()); err != nil {
		t.Fatal(err)
	}
	last := g.requests()[len(g.requests())-1]
	if e, ok := last.Expires(); !ok || e != 0 {
		t.Errorf("unregister sent Expires %d %v", e, ok)
	}
}

func TestRegisterWrongPassword(t *testing.T) {
	_, d := startRegistrar(t, 120)
	r := newRegistration(t, d, "wrong")
	if _, err := r.Register(t.Context()); !errors.Is(err, ErrAuth) {
		t.Errorf("err = %v, want ErrAuth", err)
	}
}

func TestRunRefreshesAndUnregisters(t *testing.T) {
	g, d := startRegistrar(t, 2) // grants 2 s: refresh every second
	r := newRegistration(t, d, "s3cret")
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	registered := 0
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, func(*sip.Response) { mu.Lock(); registered++; mu.Unlock() })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := registered
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d registrations in 10 s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	seen := g.requests()
	if e, _ := seen[len(seen)-1].Expires(); e != 0 {
		t.Error("no unregistration at the end")
	}
}
