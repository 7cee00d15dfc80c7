package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdminPasswordHash(t *testing.T) {
	h, err := hashAdminPassword("pw", 10000)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAdminAuth("root", h)
	if err != nil {
		t.Fatal(err)
	}
	if !a.check("root", "pw") || !a.check("root", "pw") {
		t.Error("the right password refused")
	}
	if a.check("root", "pW") || a.check("admin", "pw") || a.check("", "") {
		t.Error("a wrong login accepted")
	}
	for _, bad := range []string{"pw", "pbkdf2-sha256$10$c2FsdHNhbHQ$", "md5$1$a$b", "pbkdf2-sha256$10000$!!$x"} {
		if _, err := newAdminAuth("root", bad); err == nil {
			t.Errorf("hash %q accepted", bad)
		}
	}
	if _, err := HashAdminPassword(""); err == nil {
		t.Error("empty password hashed")
	}
}

// TestAdminAccess: /metrics is open to loopback clients and needs the
// login from elsewhere; /registrations needs it always, and is refused
// outright (403) when no admin login is configured.
func TestAdminAccess(t *testing.T) {
	h, _ := hashAdminPassword("pw", 10000)
	withLogin, _ := newAdminAuth("root", h)
	noLogin, _ := newAdminAuth("", "")
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	get := func(h http.Handler, remote, user, pw string) int {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = remote
		if user != "" {
			r.SetBasicAuth(user, pw)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	cases := []struct {
		name     string
		h        http.Handler
		remote   string
		user, pw string
		want     int
	}{
		{"metrics loopback", withLogin.loopbackOr(ok), "127.0.0.1:5000", "", "", 200},
		{"metrics loopback v6", withLogin.loopbackOr(ok), "[::1]:5000", "", "", 200},
		{"metrics remote", withLogin.loopbackOr(ok), "192.0.2.1:5000", "", "", 401},
		{"metrics remote login", withLogin.loopbackOr(ok), "192.0.2.1:5000", "root", "pw", 200},
		{"metrics remote no login configured", noLogin.loopbackOr(ok), "192.0.2.1:5000", "root", "pw", 403},
		{"registrations loopback", withLogin.require(ok), "127.0.0.1:5000", "", "", 401},
		{"registrations login", withLogin.require(ok), "127.0.0.1:5000", "root", "pw", 200},
		{"registrations no login configured", noLogin.require(ok), "127.0.0.1:5000", "", "", 403},
	}
	for _, c := range cases {
		if got := get(c.h, c.remote, c.user, c.pw); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestAdminConfig: an admin listener off loopback needs TLS, refused at
// start with a clear error; user and password go together.
func TestAdminConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Admin: "192.0.2.1:9060"}, "admin_tls.cert"},
		{Config{Admin: "0.0.0.0:9060"}, "not on loopback"},
		{Config{Admin: "127.0.0.1:9060", AdminUser: "root"}, "go together"},
		{Config{Admin: "127.0.0.1:9060", AdminUser: "root", AdminPassword: "plain"}, "pbkdf2-sha256"},
	} {
		c.cfg.Defaults()
		err := c.cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a ConfigError about %q", c.cfg.Admin, err, c.want)
		}
	}
	_, err := ParseConfig("parley.yaml", []byte("listen: [\"udp:127.0.0.1:5060\"]\nadmin: 192.0.2.1:9060\n"))
	if err == nil || !strings.Contains(err.Error(), "parley.yaml:2:") {
		t.Errorf("line-precise error: %v", err)
	}
}

// TestAdminTLS: with admin_tls the admin listener speaks HTTPS only.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	cfg := &Config{Listen: []string{"udp:127.0.0.1:0"}, Store: "memory", Admin: "127.0.0.1:0"}
	cfg.AdminTLS.Cert, cfg.AdminTLS.Key = certFile, keyFile
	s := start(t, cfg)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	r, err := c.Get("https://" + s.AdminAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.TLS == nil {
		t.Errorf("https /healthz: %d tls=%v", r.StatusCode, r.TLS != nil)
	}
	if r, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + s.AdminAddr() + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS admin listener")
		}
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}
