package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	"github.com/parleysip/parley/ua"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		line int
		msg  string
	}{
		{"listen:\n  - udp:127.0.0.1:5060\nstore: tape\n", 3, "unknown store"},
		{"listen:\n  - carrier:127.0.0.1:5060\n", 1, "unknown network"},
		{"listen:\n  - udp:0.0.0.0:5060\n", 1, "needs a users file"},
		{"auth: maybe\n", 1, "want on or off"},
		{"domains: [example.com]\nfrobnicate: true\n", 2, "frobnicate"},
		{"listen: [tls:127.0.0.1:5061]\n", 1, "tls.cert"},
		{"store: redis\n", 1, "redis address"},
		{"routes:\n  - match: \"*\"\n    to: mailto:x@y\n", 1, "not a SIP URI"},
		{"routes:\n  - to: sip:192.0.2.1\n", 1, "needs match"},
		{"domains: [example.com]\nprocs: 0\n", 2, "want auto or a number"},
		{"procs: many\n", 1, "want auto or a number"},
	} {
		_, err := ParseConfig("test.yaml", []byte(tc.yaml))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(ce.Error(), tc.msg) {
			t.Errorf("%q: %v (line %d), want line %d and %q", tc.yaml, err, lineOr(ce), tc.line, tc.msg)
		}
	}
	c, err := ParseConfig("ok.yaml", []byte("listen: [udp:0.0.0.0:5060]\nauth: off\ndomains: [example.com]\n"))
	if err != nil || c.AuthOn() {
		t.Errorf("auth off on a public listener: %v", err)
	}
	for yaml, want := range map[string]int{"procs: auto\n": 0, "procs: 3\n": 3, "domains: [x]\n": 0} {
		c, err := ParseConfig("ok.yaml", []byte(yaml))
		if err != nil {
			t.Errorf("%q: %v", yaml, err)
			continue
		}
		if n, err := c.ProcsValue(); err != nil || n != want {
			t.Errorf("%q: ProcsValue %d, %v; want %d", yaml, n, err, want)
		}
	}
}

func lineOr(ce *ConfigError) int {
	if ce == nil {
		return -1
	}
	return ce.Line
}

func TestDefaults(t *testing.T) {
	c := &Config{}
	c.Defaults()
	if len(c.Listen) != 2 || c.Store != "bolt" || c.Procs != "auto" || c.Data != "parley-data" || c.Admin != "127.0.0.1:9060" || c.AuthOn() {
		t.Errorf("defaults: %+v", c)
	}
	if strings.Join(c.Domains, ",") != "localhost,127.0.0.1" || c.Realm != "127.0.0.1" {
		t.Errorf("domains %v realm %q", c.Domains, c.Realm)
	}
}

func start(t *testing.T, cfg *Config) *Server {
	t.Helper()
	return startLogged(t, cfg, nil)
}

// startLogged starts a server with cfg logging to log, and shuts it down
// when the test ends.
func startLogged(t *testing.T, cfg *Config, log *slog.Logger) *Server {
	t.Helper()
	cfg.Defaults()
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

func udpAddr(t *testing.T, s *Server) netip.AddrPort {
	for _, a := range s.Addrs() {
		if strings.HasPrefix(a, "udp:") {
			return netip.MustParseAddrPort(strings.TrimPrefix(a, "udp:"))
		}
	}
	t.Fatal("no UDP listener")
	return netip.AddrPort{}
}

func TestServeRegisterWithAuth(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	line := fmt.Sprintf("alice:127.0.0.1:SHA-256:%s\n", digest.HA1("alice", "127.0.0.1", "s3cret", digest.SHA256))
	if err := os.WriteFile(users, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := hashAdminPassword("adminpw", 10000)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Data: dir, Admin: "127.0.0.1:0", Users: users, AdminUser: "root", AdminPassword: hash})
	addr := udpAddr(t, s)
	c := &stack.Client{}
	defer c.Close()
	reg := func(password string) error {
		r := &ua.Registration{Client: c, Registrar: sip.URI{Scheme: "sip", Host: "127.0.0.1"},
			AoR: sip.URI{Scheme: "sip", User: "alice", Host: "127.0.0.1"}, Contact: sip.URI{Scheme: "sip", User: "alice", Host: "192.0.2.7"},
			User: "alice", Password: password, Options: []stack.Option{stack.WithDest(transport.Dest{Network: transport.UDP, Addr: addr})}}
		_, err := r.Register(t.Context())
		return err
	}
	if err := reg("wrong"); !errors.Is(err, ua.ErrAuth) {
		t.Errorf("wrong password: %v", err)
	}
	if err := reg("s3cret"); err != nil {
		t.Fatal(err)
	}
	// /registrations shows users: a login is required.
	for _, pw := range []string{"", "wrong"} {
		req, _ := http.NewRequest("GET", "http://"+s.AdminAddr()+"/registrations", nil)
		if pw != "" {
			req.SetBasicAuth("root", pw)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("/registrations with password %q: %d %q", pw, r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	}
	req, _ := http.NewRequest("GET", "http://"+s.AdminAddr()+"/registrations", nil)
	req.SetBasicAuth("root", "adminpw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Registrations []struct{ AoR, Contact string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Registrations) != 1 || body.Registrations[0].AoR != "sip:alice@127.0.0.1" {
		t.Errorf("registrations %+v", body.Registrations)
	}
	waitMetrics(t, s,
		`sip_common_stats_in_requests_total{method="REGISTER"} 4`, // 401, refused, 401, 200
		`sip_common_status_code_outs_total{class="2xx"} 1`,
		`sip_common_status_code_outs_total{class="4xx"} 3`,
		"sip_server_auth_failures_total 1",
		"sip_server_registered_contacts 1",
	)
	for _, p := range []string{"/healthz", "/readyz"} {
		r, err := http.Get("http://" + s.AdminAddr() + p)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, r, err)
		}
		if r != nil {
			r.Body.Close()
		}
	}
}

func TestServeOptionsAndUnknown(t *testing.T) {
	s := start(t, &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "off"})
	addr := udpAddr(t, s)
	c := &stack.Client{}
	defer c.Close()
	do := func(method sip.Method, user string) sip.StatusCode {
		u := sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port()}
		req := ua.NewRequest(method, u, ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "t", Host: "127.0.0.1"}}})
		res, err := c.Do(t.Context(), req, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: addr}))
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode
	}
	if code := do(sip.OPTIONS, ""); code != 200 {
		t.Errorf("OPTIONS to the server: %d", code)
	}
	// A local user with no binding: 404, the same as for an unknown one.
	if code := do(sip.MESSAGE, "nobody"); code != sip.StatusNotFound {
		t.Errorf("MESSAGE to an unregistered user: %d", code)
	}
	// No open relay: a foreign domain from an unauthenticated sender.
	u := sip.URI{Scheme: "sip", User: "victim", Host: "example.org"}
	req := ua.NewRequest(sip.MESSAGE, u, ua.Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "spam", Host: "example.net"}}})
	res, err := c.Do(t.Context(), req, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: addr}))
	if err != nil || res.StatusCode != sip.StatusForbidden {
		t.Errorf("relay attempt: %v %v", res, err)
	}
}
