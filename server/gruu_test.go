package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

// gruuUA is a UA on its own UDP socket that records the MESSAGEs it gets.
type gruuUA struct {
	contact sip.URI
	got     chan string // Request-URIs received
	client  *stack.Client
}

func newGRUUUA(t *testing.T, user string) *gruuUA {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	u := &gruuUA{got: make(chan string, 8)}
	s := &stack.Server{Handler: stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		u.got <- r.URI.String()
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})}
	if _, err := s.ServePacket(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	u.client = &stack.Client{Server: s}
	u.contact = sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()}
	return u
}

// register sends a REGISTER for sip:alice@127.0.0.1 with contact, and
// returns the response's Contact value for it.
func (u *gruuUA) register(t *testing.T, srv netip.AddrPort, contact, callID string, gruu bool) (*sip.Response, sip.Contact) {
	t.Helper()
	aor := sip.URI{Scheme: "sip", User: "alice", Host: "127.0.0.1"}
	r := sip.NewRequest(sip.REGISTER, sip.URI{Scheme: "sip", Host: "127.0.0.1"})
	r.SetFrom(sip.NameAddr{URI: aor, Params: sip.Params(";tag=" + sip.NewTag())})
	r.SetTo(sip.NameAddr{URI: aor})
	r.SetCallID(callID)
	r.SetCSeq(sip.CSeq{Seq: 1, Method: sip.REGISTER})
	r.SetMaxForwards(70)
	_ = r.Add("Contact", contact)
	if gruu {
		_ = r.Add("Supported", "gruu")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := u.client.Do(ctx, r, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: srv}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Contacts() {
		if c.URI.Port == u.contact.Port {
			return res, c
		}
	}
	return res, sip.Contact{}
}

func (u *gruuUA) message(t *testing.T, srv netip.AddrPort, to string) sip.StatusCode {
	t.Helper()
	ruri, err := sip.ParseURI(to)
	if err != nil {
		t.Fatal(err)
	}
	r := sip.NewRequest(sip.MESSAGE, ruri)
	r.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "carol", Host: "127.0.0.1"}, Params: sip.Params(";tag=" + sip.NewTag())})
	r.SetTo(sip.NameAddr{URI: ruri})
	r.SetCallID(sip.NewCallID("gruu"))
	r.SetCSeq(sip.CSeq{Seq: 1, Method: sip.MESSAGE})
	r.SetMaxForwards(70)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := u.client.Do(ctx, r, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: srv}))
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

func gruuParam(t *testing.T, c sip.Contact, name string) string {
	t.Helper()
	v, ok := c.Params.Get(name)
	if !ok {
		t.Fatalf("Contact %v has no %s", c, name)
	}
	return sip.Unquote(v)
}

// TestGRUU: RFC 5627 through parley serve. Two instances of alice register
// with "Supported: gruu" and get pub-gruu and temp-gruu (§5.2); a request
// to one instance's GRUU reaches that instance only (§6.1); a new Call-ID
// invalidates the instance's older temporary GRUUs (§5.1, then 404); a
// made-up temporary GRUU is 404; registering a GRUU as a contact is 403;
// without "Supported: gruu" no GRUU is given.
func TestGRUU(t *testing.T) {
	s := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"})
	srv := udpAddr(t, s)
	a, b, caller := newGRUUUA(t, "a"), newGRUUUA(t, "b"), newGRUUUA(t, "carol")
	const instA, instB = "urn:uuid:00000000-0000-0000-0000-00000000000a", "urn:uuid:00000000-0000-0000-0000-00000000000b"
	_, ca := a.register(t, srv, fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, a.contact.String(), instA), "call-a", true)
	_, cb := b.register(t, srv, fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, b.contact.String(), instB), "call-b1", true)
	pubA, tempB := gruuParam(t, ca, "pub-gruu"), gruuParam(t, cb, "temp-gruu")
	if want := "sip:alice@127.0.0.1;gr=" + instA; pubA != want {
		t.Errorf("pub-gruu %s, want %s", pubA, want)
	}

	expect := func(to string, code sip.StatusCode, at *gruuUA, other *gruuUA) {
		t.Helper()
		if got := caller.message(t, srv, to); got != code {
			t.Fatalf("MESSAGE to %s: %d, want %d", to, got, code)
		}
		if at != nil {
			select {
			case u := <-at.got:
				if u != at.contact.String() {
					t.Errorf("Request-URI at the UA %s, want its contact %s", u, at.contact.String())
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("MESSAGE to %s did not arrive", to)
			}
		}
		if other != nil {
			select {
			case u := <-other.got:
				t.Errorf("MESSAGE to %s also reached %s", to, u)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	expect(pubA, sip.StatusOK, a, b)
	expect(tempB, sip.StatusOK, b, a)

	// B re-registers from a new Call-ID: its older temporary GRUUs die.
	_, cb2 := b.register(t, srv, fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, b.contact.String(), instB), "call-b2", true)
	tempB2 := gruuParam(t, cb2, "temp-gruu")
	expect(tempB, sip.StatusNotFound, nil, nil)
	expect(tempB2, sip.StatusOK, b, a)
	expect("sip:tgruu.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@127.0.0.1;gr", sip.StatusNotFound, nil, nil)
	// A public GRUU of an instance with no contact: 480 (§5.3).
	expect("sip:alice@127.0.0.1;gr=urn:uuid:00000000-0000-0000-0000-00000000000c", sip.StatusTemporarilyUnavailable, nil, nil)

	// §5.1: a contact that is a GRUU of the AoR is refused.
	res, _ := a.register(t, srv, fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, pubA, instA), "call-loop", true)
	if res.StatusCode != sip.StatusForbidden {
		t.Errorf("REGISTER of the pub-gruu as contact: %d", res.StatusCode)
	}
	// No "Supported: gruu": no GRUU parameters.
	_, plain := a.register(t, srv, fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, a.contact.String(), instA), "call-a2", false)
	if plain.Params.Has("pub-gruu") || plain.Params.Has("temp-gruu") {
		t.Errorf("GRUUs without Supported: gruu: %v", plain)
	}
}

// TestStaticRoute: a request matching a static route goes to its next hop
// with its Request-URI unchanged (like Kamailio's $du), even for a foreign
// domain; "*" matches everything else.
func TestStaticRoute(t *testing.T) {
	pstn, other := newGRUUUA(t, "pstn"), newGRUUUA(t, "other")
	cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off", Routes: []Route{
		{Match: "pstn.example.com", To: fmt.Sprintf("sip:127.0.0.1:%d", pstn.contact.Port)},
		{Match: "*", To: fmt.Sprintf("sip:127.0.0.1:%d;transport=udp", other.contact.Port)},
	}}
	s := start(t, cfg)
	srv := udpAddr(t, s)
	caller := newGRUUUA(t, "carol")
	for _, c := range []struct {
		to string
		at *gruuUA
	}{{"sip:+15551234@pstn.example.com", pstn}, {"sip:bob@example.org", other}} {
		if code := caller.message(t, srv, c.to); code != sip.StatusOK {
			t.Fatalf("MESSAGE to %s: %d", c.to, code)
		}
		select {
		case u := <-c.at.got:
			if u != c.to {
				t.Errorf("Request-URI at the next hop %s, want %s", u, c.to)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("MESSAGE to %s not routed", c.to)
		}
	}
}

// TestGRUUKeySurvivesRestart: with the bolt store the GRUU key is kept in
// the data directory, so a temporary GRUU handed out before a restart
// still routes after it.
func TestGRUUKeySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := func() *Config { return &Config{Listen: []string{"udp:127.0.0.1:0"}, Data: dir, Admin: "off"} }
	s := start(t, cfg())
	a := newGRUUUA(t, "a")
	const inst = "urn:uuid:00000000-0000-0000-0000-0000000000aa"
	_, c := a.register(t, udpAddr(t, s), fmt.Sprintf(`<%s>;+sip.instance="<%s>"`, a.contact.String(), inst), "call-k", true)
	temp := gruuParam(t, c, "temp-gruu")
	shutdown(t, s)
	s2 := start(t, cfg())
	caller := newGRUUUA(t, "carol")
	if code := caller.message(t, udpAddr(t, s2), temp); code != sip.StatusOK {
		t.Fatalf("temporary GRUU after a restart: %d", code)
	}
	if got := <-a.got; got != a.contact.String() {
		t.Errorf("delivered to %s", got)
	}
}

// TestGRUUOfAnotherUser: RFC 5627 §6.2. An authenticated user's
// dialog-forming request whose Contact is a valid GRUU of another user of
// this domain is refused 403, whether the GRUU is public or temporary; the
// user's own GRUU, a GRUU of a foreign domain and a non-dialog-forming
// MESSAGE pass on to routing (here 404 or 480: the callee is not
// registered).
func TestGRUUOfAnotherUser(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	var lines strings.Builder
	for _, u := range []string{"alice", "carol"} {
		fmt.Fprintf(&lines, "%s:127.0.0.1:SHA-256:%s\n", u, digest.HA1(u, "127.0.0.1", "pw-"+u, digest.SHA256))
	}
	if err := os.WriteFile(users, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off", Users: users})
	srv := udpAddr(t, s)
	carol := newGRUUUA(t, "carol")
	const inst = "urn:uuid:00000000-0000-0000-0000-0000000000a1"
	alicePub, err := s.gruu.Public("sip:alice@127.0.0.1", inst)
	if err != nil {
		t.Fatal(err)
	}
	aliceTemp, err := s.gruu.Temporary("sip:alice@127.0.0.1", inst, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	carolPub, err := s.gruu.Public("sip:carol@127.0.0.1", inst)
	if err != nil {
		t.Fatal(err)
	}
	// send sends method from carol with contact, answering one 407 with
	// carol's credentials, and returns the final response.
	send := func(method sip.Method, contact string) *sip.Response {
		t.Helper()
		ruri := sip.URI{Scheme: "sip", User: "nobody", Host: "127.0.0.1"}
		from := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "carol", Host: "127.0.0.1"}, Params: sip.Params(";tag=" + sip.NewTag())}
		callID := sip.NewCallID("gruu")
		var cred string
		for seq := uint32(1); seq <= 2; seq++ {
			r := sip.NewRequest(method, ruri)
			r.SetFrom(from)
			r.SetTo(sip.NameAddr{URI: ruri})
			r.SetCallID(callID)
			r.SetCSeq(sip.CSeq{Seq: seq, Method: method})
			r.SetMaxForwards(70)
			_ = r.Add("Contact", contact)
			if cred != "" {
				_ = r.Add("Proxy-Authorization", cred)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			res, err := carol.client.Do(ctx, r, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: srv}))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != sip.StatusProxyAuthenticationRequired || cred != "" {
				return res
			}
			cs, _ := res.Auths("Proxy-Authenticate")
			ch, ok := digest.Choose(cs)
			if !ok {
				t.Fatalf("407 without a usable challenge")
			}
			a, err := digest.Answer(ch, method, ruri.String(), "carol", "pw-carol", nil, nil, 1)
			if err != nil {
				t.Fatal(err)
			}
			cred = digest.Value(a)
		}
		t.Fatal("unreachable")
		return nil
	}
	for _, c := range []struct {
		method  sip.Method
		contact string
		want    sip.StatusCode
	}{
		{sip.INVITE, "<" + alicePub.String() + ">", sip.StatusForbidden},
		{sip.INVITE, "<" + aliceTemp.String() + ">", sip.StatusForbidden},
		{sip.SUBSCRIBE, "<" + alicePub.String() + ">", sip.StatusForbidden},
		{sip.INVITE, "<" + carolPub.String() + ">", sip.StatusNotFound},
		{sip.INVITE, "<sip:alice@example.org;gr=" + inst + ">", sip.StatusNotFound},
		{sip.INVITE, "<" + carol.contact.String() + ">", sip.StatusNotFound},
		{sip.MESSAGE, "<" + alicePub.String() + ">", sip.StatusNotFound},
	} {
		res := send(c.method, c.contact)
		got := res.StatusCode
		if got == sip.StatusTemporarilyUnavailable {
			got = sip.StatusNotFound // either says "not registered"
		}
		if got != c.want {
			t.Errorf("%s with Contact %s: %d %s, want %d", c.method, c.contact, res.StatusCode, res.Reason, c.want)
		}
	}
}
