package registrar

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/location"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// recorder is a ResponseWriter that keeps the response and reports a flow.
type recorder struct {
	res  *sip.Response
	flow transport.Flow
}

func (w *recorder) Respond(res *sip.Response) error { w.res = res; return nil }
func (w *recorder) Responded() bool                 { return w.res != nil }
func (w *recorder) Flow() transport.Flow            { return w.flow }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newRegistrar(t *testing.T) (*Registrar, *clock) {
	c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	store := location.NewMemory(location.MemoryOptions{Now: c.Now})
	t.Cleanup(func() { store.Close() })
	return &Registrar{Store: store, Domains: []string{"example.com"}, Now: c.Now}, c
}

type reg struct {
	callID   string
	seq      int
	expires  string // Expires header, "" for none
	contacts []string
	extra    string
	user     string // AoR user
}

func (g reg) request(t *testing.T) *sip.Request {
	t.Helper()
	user := g.user
	if user == "" {
		user = "alice"
	}
	s := "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + fmt.Sprint(g.seq) + "\r\n" +
		"To: <sip:" + user + "@example.com>\r\nFrom: <sip:" + user + "@example.com>;tag=f1\r\n" +
		"Call-ID: " + g.callID + "\r\nCSeq: " + fmt.Sprint(g.seq) + " REGISTER\r\nMax-Forwards: 70\r\n"
	if g.expires != "" {
		s += "Expires: " + g.expires + "\r\n"
	}
	for _, c := range g.contacts {
		s += "Contact: " + c + "\r\n"
	}
	s += g.extra + "Content-Length: 0\r\n\r\n"
	m, err := sip.Parse([]byte(s))
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	return m.(*sip.Request)
}

func (r *Registrar) do(t *testing.T, ctx context.Context, req *sip.Request) *sip.Response {
	t.Helper()
	w := &recorder{flow: transport.Flow{Network: transport.UDP, Remote: netip.MustParseAddrPort("198.51.100.7:40000")}}
	r.ServeSIP(ctx, w, req)
	if w.res == nil {
		t.Fatal("no response")
	}
	return w.res
}

func contactsOf(res *sip.Response) map[string]string {
	out := map[string]string{}
	for _, c := range res.Contacts() {
		e, _ := c.Params.Get("expires")
		out[c.URI.String()] = e
	}
	return out
}

func TestRegisterFlow(t *testing.T) {
	r, clk := newRegistrar(t)
	ctx := context.Background()
	// Two contacts, one with its own expiry.
	res := r.do(t, ctx, reg{callID: "c1", seq: 1, expires: "3600", contacts: []string{"<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>;expires=120"}}.request(t))
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	if got := contactsOf(res); got["sip:alice@192.0.2.10"] != "3600" || got["sip:alice@192.0.2.11"] != "120" {
		t.Errorf("contacts %v", got)
	}
	if _, err := res.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	// A fetch (no Contact) lists the bindings with the time left.
	clk.Add(20 * time.Second)
	res = r.do(t, ctx, reg{callID: "c2", seq: 1}.request(t))
	if got := contactsOf(res); len(got) != 2 || got["sip:alice@192.0.2.11"] != "100" {
		t.Errorf("fetch: %v", got)
	}
	// Re-register one with the same Call-ID and a lower CSeq: out of order.
	res = r.do(t, ctx, reg{callID: "c1", seq: 1, expires: "3600", contacts: []string{"<sip:alice@192.0.2.10>"}}.request(t))
	if res.StatusCode != 500 {
		t.Errorf("out of order: %d", res.StatusCode)
	}
	// Remove one (Expires 0), keep the other.
	res = r.do(t, ctx, reg{callID: "c1", seq: 2, contacts: []string{"<sip:alice@192.0.2.10>;expires=0"}}.request(t))
	if got := contactsOf(res); len(got) != 1 || got["sip:alice@192.0.2.11"] == "" {
		t.Errorf("after removal: %v", got)
	}
	// The 120 s binding expires.
	clk.Add(101 * time.Second)
	res = r.do(t, ctx, reg{callID: "c3", seq: 1}.request(t))
	if len(res.Contacts()) != 0 {
		t.Errorf("expired binding listed: %v", contactsOf(res))
	}
}

func TestWildcardAnd423(t *testing.T) {
	r, _ := newRegistrar(t)
	ctx := context.Background()
	r.do(t, ctx, reg{callID: "c1", seq: 1, contacts: []string{"<sip:alice@192.0.2.10>", "<sip:alice@192.0.2.11>"}}.request(t))
	for name, tc := range map[string]struct {
		g    reg
		code sip.StatusCode
	}{
		"star without Expires": {reg{callID: "c1", seq: 5, contacts: []string{"*"}}, 400},
		"star with Expires 10": {reg{callID: "c1", seq: 5, expires: "10", contacts: []string{"*"}}, 400},
		"star with another":    {reg{callID: "c1", seq: 5, expires: "0", contacts: []string{"*", "<sip:x@y>"}}, 400},
		"too brief":            {reg{callID: "c1", seq: 5, expires: "30", contacts: []string{"<sip:alice@192.0.2.12>"}}, 423},
		"bad expires param":    {reg{callID: "c1", seq: 5, contacts: []string{"<sip:alice@192.0.2.12>;expires=soon"}}, 400},
		"foreign AoR domain":   {reg{callID: "c1", seq: 5, contacts: []string{"<sip:a@b>"}}, 404},
		"unknown Require":      {reg{callID: "c1", seq: 5, extra: "Require: teleportation\r\n"}, 420},
	} {
		req := tc.g.request(t)
		if name == "foreign AoR domain" {
			req.SetTo(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "other.org"}})
		}
		res := r.do(t, ctx, req)
		if res.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", name, res.StatusCode, tc.code)
		}
		switch tc.code {
		case 423:
			if res.Get("Min-Expires") != "60" {
				t.Errorf("423 without Min-Expires 60")
			}
		case 420:
			if res.Get("Unsupported") != "teleportation" {
				t.Errorf("420 Unsupported = %q", res.Get("Unsupported"))
			}
		}
	}
	res := r.do(t, ctx, reg{callID: "c1", seq: 6, expires: "0", contacts: []string{"*"}}.request(t))
	if res.StatusCode != 200 || len(res.Contacts()) != 0 {
		t.Errorf("star removal: %d %v", res.StatusCode, contactsOf(res))
	}
	// Request-URI of another domain.
	req := reg{callID: "c9", seq: 1}.request(t)
	req.URI.Host = "elsewhere.org"
	if res := r.do(t, ctx, req); res.StatusCode != 403 {
		t.Errorf("foreign Request-URI: %d", res.StatusCode)
	}
}

func TestPathServiceRouteOutbound(t *testing.T) {
	r, _ := newRegistrar(t)
	r.ServiceRoute = []sip.NameAddr{{URI: sip.URI{Scheme: "sip", Host: "orig.example.com", Params: ";lr"}}}
	ctx := context.Background()
	inst := `+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"`
	res := r.do(t, ctx, reg{callID: "c1", seq: 1, contacts: []string{"<sip:alice@192.0.2.10>;" + inst + ";reg-id=1"},
		extra: "Path: <sip:edge.example.com;lr;ob>\r\nSupported: path, outbound\r\n"}.request(t))
	if res.StatusCode != 200 || res.Get("Path") != "<sip:edge.example.com;lr;ob>" || !res.HasOptionTag("Require", "outbound") ||
		res.Get("Service-Route") != "<sip:orig.example.com;lr>" {
		t.Fatalf("response:\n%s", res)
	}
	rec, _ := r.Store.Get(ctx, "sip:alice@example.com")
	if len(rec.Bindings) != 1 {
		t.Fatalf("bindings %v", rec.Bindings)
	}
	b := rec.Bindings[0]
	if b.InstanceID != "urn:uuid:00000000-0000-1000-8000-000A95A0E128" || b.RegID != 1 || len(b.Path) != 1 ||
		b.Received.String() != "198.51.100.7:40000" || b.Flow.IsZero() {
		t.Errorf("binding %+v", b)
	}
	// Without ;ob on the first Path: 439.
	res = r.do(t, ctx, reg{callID: "c2", seq: 1, contacts: []string{"<sip:alice@192.0.2.10>;" + inst + ";reg-id=2"},
		extra: "Path: <sip:edge.example.com;lr>\r\n"}.request(t))
	if res.StatusCode != sip.StatusFirstHopLacksOutbound {
		t.Errorf("no ob: %d", res.StatusCode)
	}
}

func TestAuthorization(t *testing.T) {
	r, _ := newRegistrar(t)
	r.RequireAuth = true
	ctx := context.Background()
	req := reg{callID: "c1", seq: 1, contacts: []string{"<sip:alice@192.0.2.10>"}}.request(t)
	if res := r.do(t, ctx, req); res.StatusCode != 403 {
		t.Errorf("unauthenticated: %d", res.StatusCode)
	}
	if res := r.do(t, digest.WithUser(ctx, "bob"), req); res.StatusCode != 403 {
		t.Errorf("bob registering alice: %d", res.StatusCode)
	}
	if res := r.do(t, digest.WithUser(ctx, "alice"), req); res.StatusCode != 200 {
		t.Errorf("alice: %d", res.StatusCode)
	}
}

// TestBoltBackend runs a registration against the durable store.
func TestBoltBackend(t *testing.T) {
	store, err := location.OpenBolt(filepath.Join(t.TempDir(), "reg.db"), location.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := &Registrar{Store: store}
	res := r.do(t, context.Background(), reg{callID: "c1", seq: 1, contacts: []string{"<sip:alice@192.0.2.10>"}}.request(t))
	if res.StatusCode != 200 || !strings.Contains(res.Get("Contact"), "expires=3600") {
		t.Fatalf("bolt: %s", res)
	}
}

// TestTortureUnknownSchemes: RFC 4475 §3.3.4 — "A registrar rejects [it]
// with 400, since the To AOR must be SIP/SIPS".
func TestTortureUnknownSchemes(t *testing.T) {
	data, err := os.ReadFile("../sip/testdata/torture/unksm2.dat")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sip.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	r := &Registrar{Store: location.NewMemory(location.MemoryOptions{})}
	if res := r.do(t, context.Background(), m.(*sip.Request)); res.StatusCode != sip.StatusBadRequest {
		t.Errorf("unksm2: %d, want 400", res.StatusCode)
	}
}
