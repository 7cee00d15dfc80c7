package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

// testPKI is a self-signed ECDSA certificate for 127.0.0.1, ::1 and
// localhost, made once per test binary.
var testPKI = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "parley test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
})

func serverTLS() *tls.Config {
	cert, pool := testPKI()
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, MinVersion: tls.VersionTLS12}
}

func clientTLS() *tls.Config {
	cert, pool := testPKI()
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// testLimits are short enough that a stuck test fails fast.
var testLimits = Limits{ReadTimeout: 2 * time.Second, IdleTimeout: 10 * time.Second, TLSHandshakeTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}

// newLayer returns a Layer with the test certificates, closed when the test
// ends.
func newLayer(t testing.TB) *Layer {
	t.Helper()
	l := &Layer{TLSConfig: serverTLS(), ClientTLSConfig: clientTLS(), Limits: testLimits}
	t.Cleanup(func() { l.Close() })
	return l
}

// echo makes l answer every request with a 200 carrying the request's body.
func echo(l *Layer) {
	l.Handler = func(in Incoming) {
		req, ok := in.Message.(*sip.Request)
		if !ok || req.Method == sip.ACK {
			return
		}
		res := sip.NewResponse(req, sip.StatusOK)
		if len(req.Body) > 0 {
			res.SetBody(req.ContentType(), req.Body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.SendResponse(ctx, res, in.Flow)
	}
}

// collect makes l push every message it receives to the returned channel.
func collect(l *Layer) chan Incoming {
	ch := make(chan Incoming, 64)
	l.Handler = func(in Incoming) {
		select {
		case ch <- in:
		default:
		}
	}
	return ch
}

func listen(t testing.TB, l *Layer, n Network, addr string) netip.AddrPort {
	t.Helper()
	ln, err := l.Listen(context.Background(), n, addr)
	if err != nil {
		t.Fatalf("Listen %v %s: %v", n, addr, err)
	}
	return ln.Addr()
}

// listenUDPTCP listens for UDP and TCP on the same port (§18.2.1).
func listenUDPTCP(t testing.TB, l *Layer, host string) netip.AddrPort {
	t.Helper()
	for range 20 {
		u, err := l.Listen(context.Background(), UDP, net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Listen(context.Background(), TCP, u.Addr().String())
		if err == nil {
			return u.Addr()
		}
		u.Close()
	}
	t.Fatal("no port free for both UDP and TCP")
	return netip.AddrPort{}
}

func newRequest(t testing.TB, method sip.Method, body []byte) *sip.Request {
	t.Helper()
	u, err := sip.ParseURI("sip:bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	r := sip.NewRequest(method, u)
	for _, h := range [][2]string{
		{"Via", "SIP/2.0/UDP placeholder.invalid;branch=" + sip.NewBranch()},
		{"Max-Forwards", "70"},
		{"From", "<sip:alice@example.com>;tag=" + sip.NewTag()},
		{"To", "<sip:bob@example.com>"},
		{"Call-ID", sip.NewCallID("test")},
		{"CSeq", "1 " + string(method)},
	} {
		if err := r.Add(h[0], h[1]); err != nil {
			t.Fatalf("Add %s: %v", h[0], err)
		}
	}
	if body != nil {
		r.SetBody("text/plain", body)
	} else {
		r.SetBody("", nil)
	}
	return r
}

// rawRequest encodes a request with the given top Via, for raw sockets.
func rawRequest(via, callID string, body string) []byte {
	var b strings.Builder
	b.WriteString("OPTIONS sip:bob@example.com SIP/2.0\r\n")
	b.WriteString("Via: " + via + "\r\n")
	b.WriteString("Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n")
	b.WriteString("Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\n")
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	return []byte(b.String())
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func waitFor(t testing.TB, ch <-chan Incoming, d time.Duration, match func(Incoming) bool) Incoming {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case in := <-ch:
			if match(in) {
				return in
			}
		case <-timer.C:
			t.Fatalf("no matching message within %v", d)
			return Incoming{}
		}
	}
}

func byCallID(id string) func(Incoming) bool {
	return func(in Incoming) bool { return in.Message.Headers().CallID() == id }
}

// readSIP reads one message from a raw stream connection within d.
func readSIP(t testing.TB, c net.Conn, d time.Duration) (sip.Message, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	return sip.NewReader(c, sip.Limits{}).ReadMessage()
}

// eventually polls cond every 5 ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasIPv6(t testing.TB) {
	t.Helper()
	c, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	c.Close()
}
