package ua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/internal/leaktest"
	"github.com/parleysip/parley/sdp"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

func TestMain(m *testing.M) {
	leaktest.Main(m, "parley/ua.", "parley/stack.", "parley/transaction.")
}

// testTimers are short so that 64·T1 is 1.6 s on loopback.
var testTimers = transaction.Timers{T1: 25 * time.Millisecond, T2: 200 * time.Millisecond}

// wire records the messages a UA sends (">") and receives ("<") as short
// lines: "> INVITE", "< 180 INVITE".
type wire struct {
	mu    sync.Mutex
	lines []string
	raw   []string
}

func (w *wire) tap(ev transport.TapEvent) {
	m, err := sip.Parse(ev.Data)
	if err != nil {
		return
	}
	dir := "<"
	if ev.Direction == transport.Outbound {
		dir = ">"
	}
	var line string
	switch m := m.(type) {
	case *sip.Request:
		line = dir + " " + string(m.Method)
	case *sip.Response:
		cs, _ := m.CSeq()
		line = fmt.Sprintf("%s %d %s", dir, m.StatusCode, cs.Method)
	}
	w.mu.Lock()
	w.lines = append(w.lines, line)
	w.raw = append(w.raw, string(ev.Data))
	w.mu.Unlock()
}

func (w *wire) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// dir returns the lines of one direction (">" or "<"), 100 Trying left
// out and retransmissions (a line repeating the one before) folded.
func (w *wire) dir(d string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	last := ""
	for i, l := range w.lines {
		if strings.HasPrefix(l, d+" ") && !strings.HasPrefix(l, d+" 100 ") && w.raw[i] != last {
			out = append(out, l)
			last = w.raw[i]
		}
	}
	return strings.Join(out, "\n")
}

// count returns how many lines equal line.
func (w *wire) count(line string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if l == line {
			n++
		}
	}
	return n
}

// index returns the position of the first line equal to line, or -1.
func (w *wire) index(line string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, l := range w.lines {
		if l == line {
			return i
		}
	}
	return -1
}

// find returns the first raw message whose first line starts with prefix.
func (w *wire) find(prefix string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.raw {
		if strings.HasPrefix(r, prefix) {
			return r
		}
	}
	return ""
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

type agent struct {
	*UA
	addr netip.AddrPort
	wire *wire
}

func (a *agent) uri(user string) sip.URI {
	return sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: a.addr.Port()}
}

func (a *agent) dest() *transport.Dest {
	return &transport.Dest{Network: transport.UDP, Addr: a.addr}
}

// audio is the media of the test sessions (no RTP socket: a fixed port).
func audio(port int) sdp.Capabilities {
	return sdp.Capabilities{
		Username: "parley",
		Address:  netip.MustParseAddr("127.0.0.1"),
		Ports:    func(string) int { return port },
		Media: []sdp.MediaCapability{{Type: "audio", PTime: 20 * time.Millisecond,
			Codecs: []sdp.Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}}}},
	}
}

// newAgent starts a UA on a loopback UDP port.
func newAgent(t *testing.T, user string, cfg func(*UA)) *agent {
	t.Helper()
	return newAgentB(t, user, cfg)
}

// newAgentB is newAgent for tests and benchmarks.
func newAgentB(t testing.TB, user string, cfg func(*UA)) *agent {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	w := &wire{}
	s := &stack.Server{Timers: testTimers, Tap: w.tap}
	if _, bench := t.(*testing.B); bench {
		s.Tap = nil // measure the UA, not the test's recorder
	}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port()}}
	u := &UA{Server: s, Timers: testTimers,
		Identity: Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}}, Contact: &contact}}
	if cfg != nil {
		cfg(u)
	}
	u.Attach()
	if _, err := s.ServePacket(conn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return &agent{UA: u, addr: addr, wire: w}
}

// raw is a scripted SIP peer on a bare UDP socket, for exact message
// sequences (forking, lost ACKs).
type raw struct {
	t    *testing.T
	conn *net.UDPConn
	addr netip.AddrPort
}

func newRaw(t *testing.T) *raw {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &raw{t: t, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// recv returns the next message and its source, or nil after d.
func (r *raw) recv(d time.Duration) (sip.Message, netip.AddrPort) {
	buf := make([]byte, 65535)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := r.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, netip.AddrPort{}
	}
	m, err := sip.Parse(buf[:n])
	if err != nil {
		r.t.Fatalf("raw: unparsable message: %v\n%s", err, buf[:n])
	}
	return m, from
}

// expect returns the next request of method (skipping retransmissions of
// others and responses), failing after 5 s.
func (r *raw) expect(method sip.Method) (*sip.Request, netip.AddrPort) {
	r.t.Helper()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		m, from := r.recv(time.Until(end))
		if req, ok := m.(*sip.Request); ok && req.Method == method {
			return req, from
		}
	}
	r.t.Fatalf("raw: no %s within 5 s", method)
	return nil, netip.AddrPort{}
}

// expectResponse returns the next response with status code.
func (r *raw) expectResponse(code sip.StatusCode) *sip.Response {
	r.t.Helper()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		m, _ := r.recv(time.Until(end))
		if res, ok := m.(*sip.Response); ok && res.StatusCode == code {
			return res
		}
	}
	r.t.Fatalf("raw: no %d within 5 s", code)
	return nil
}

func (r *raw) send(m interface{ AppendTo([]byte) []byte }, to netip.AddrPort) {
	if _, err := r.conn.WriteToUDPAddrPort(m.AppendTo(nil), to); err != nil {
		r.t.Fatal(err)
	}
}

// answer builds a response of the raw peer, a UAS, with To tag and Contact.
func (r *raw) answer(req *sip.Request, code sip.StatusCode, tag string) *sip.Response {
	res := sip.NewResponse(req, code)
	if tag != "" {
		res.SetToTag(tag)
		_ = res.Add("Contact", fmt.Sprintf("<sip:raw@%s>", r.addr))
	}
	return res
}

// request builds a request from the raw peer to target.
func (r *raw) request(method sip.Method, target sip.URI, callID, fromTag, toTag string, seq uint32) *sip.Request {
	req := sip.NewRequest(method, target)
	req.PrependVia(sip.Via{Transport: "UDP", Host: "127.0.0.1", Port: r.addr.Port(), Params: sip.Params(";branch=" + sip.NewBranch())})
	from := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "raw", Host: "127.0.0.1", Port: r.addr.Port()}}
	from.Params = from.Params.Set("tag", fromTag)
	req.SetFrom(from)
	to := sip.NameAddr{URI: target}
	if toTag != "" {
		to.Params = to.Params.Set("tag", toTag)
	}
	req.SetTo(to)
	req.SetCallID(callID)
	req.SetCSeq(sip.CSeq{Seq: seq, Method: method})
	req.SetMaxForwards(70)
	_ = req.Add("Contact", fmt.Sprintf("<sip:raw@%s>", r.addr))
	return req
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// newAgentTCP starts a UA on a loopback TCP listener; its Contact has
// transport=tcp, so in-dialog requests come over TCP.
func newAgentTCP(t *testing.T, user string, cfg func(*UA)) *agent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	w := &wire{}
	s := &stack.Server{Timers: testTimers, Tap: w.tap}
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port(), Params: sip.Params(";transport=tcp")}}
	u := &UA{Server: s, Timers: testTimers,
		Identity: Identity{From: sip.NameAddr{URI: sip.URI{Scheme: "sip", User: user, Host: "127.0.0.1"}}, Contact: &contact}}
	if cfg != nil {
		cfg(u)
	}
	u.Attach()
	if _, err := s.Serve(transport.TCP, ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return &agent{UA: u, addr: addr, wire: w}
}
