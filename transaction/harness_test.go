package transaction

// A scripted harness for the state machines, in the manner of
// golang.org/x/net/quic's testConn: a fake Transport records every message
// the Layer sends, the test injects received messages, and time is the
// fake clock of a testing/synctest bubble, so that "advance 500 ms" is
// exact and instant.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// sentMsg is one message passed to the fake transport.
type sentMsg struct {
	msg  sip.Message
	dest transport.Dest // requests
	flow transport.Flow // responses: the flow they were sent back on
	at   time.Time
}

// fakeTransport records what the Layer sends. SendRequest returns flow.
type fakeTransport struct {
	mu   sync.Mutex
	flow transport.Flow
	sent []sentMsg
	// fail, if set, is asked before each send; a non-nil error fails it
	// (and the message is not recorded).
	fail func(m sip.Message) error
}

func (f *fakeTransport) SendRequest(ctx context.Context, req *sip.Request, d transport.Dest) (transport.Flow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(req); err != nil {
			return transport.Flow{}, err
		}
	}
	f.sent = append(f.sent, sentMsg{msg: req, dest: d, at: time.Now()})
	return f.flow, nil
}

func (f *fakeTransport) SendResponse(ctx context.Context, res *sip.Response, in transport.Flow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(res); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, sentMsg{msg: res, flow: in, at: time.Now()})
	return nil
}

// SendResponseKeep makes the fake a ResponseKeeper, so that the figure
// tests run the path a *transport.Layer takes: it records res and gives
// back its bytes and the flow (in, from the same local address).
func (f *fakeTransport) SendResponseKeep(ctx context.Context, res *sip.Response, in transport.Flow) ([]byte, transport.Flow, error) {
	if err := f.SendResponse(ctx, res, in); err != nil {
		return nil, transport.Flow{}, err
	}
	if in.Reliable() {
		return nil, transport.Flow{}, nil
	}
	return res.AppendTo(nil), in, nil
}

// Resend records the response parsed again from b.
func (f *fakeTransport) Resend(ctx context.Context, b []byte, sent transport.Flow) error {
	m, err := sip.Parse(b)
	if err != nil {
		return err
	}
	return f.SendResponse(ctx, m.(*sip.Response), sent)
}

func (f *fakeTransport) setFail(fn func(m sip.Message) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

var errNetDown = errors.New("fake: network is unreachable")

// failAll fails every send.
func failAll(sip.Message) error { return errNetDown }

// testConn drives one Layer inside a synctest bubble.
type testConn struct {
	t    *testing.T
	l    *Layer
	tr   *fakeTransport
	flow transport.Flow // the flow requests and responses arrive on
	net  transport.Network

	mu       sync.Mutex
	events   []Event
	requests []*ServerTx
	acks     []*sip.Request
	cancels  [][2]*ServerTx
	strays   []*sip.Response
	next     int // sent messages already checked
}

var (
	localAddr  = netip.MustParseAddrPort("192.0.2.1:5060")
	remoteAddr = netip.MustParseAddrPort("198.51.100.7:5060")
)

func testFlow(n transport.Network) transport.Flow {
	f := transport.Flow{Network: n, Local: localAddr, Remote: remoteAddr}
	if n.Reliable() {
		f.ConnID = 1
	}
	return f
}

// newTestConn returns a harness whose flow is on network n. opts may
// change the Config; the harness's callbacks are set first.
func newTestConn(t *testing.T, n transport.Network, opts ...func(*Config)) *testConn {
	t.Helper()
	tc := &testConn{t: t, tr: &fakeTransport{flow: testFlow(n)}, flow: testFlow(n), net: n}
	cfg := Config{
		OnRequest: func(tx *ServerTx, req *sip.Request) {
			tc.mu.Lock()
			tc.requests = append(tc.requests, tx)
			tc.mu.Unlock()
		},
		OnAck: func(ack *sip.Request, flow transport.Flow) {
			tc.mu.Lock()
			tc.acks = append(tc.acks, ack)
			tc.mu.Unlock()
		},
		OnCancel: func(cancel, target *ServerTx) {
			tc.mu.Lock()
			tc.cancels = append(tc.cancels, [2]*ServerTx{cancel, target})
			tc.mu.Unlock()
		},
		OnStrayResponse: func(res *sip.Response, flow transport.Flow) {
			tc.mu.Lock()
			tc.strays = append(tc.strays, res)
			tc.mu.Unlock()
		},
		Tracer: func(e Event) {
			tc.mu.Lock()
			tc.events = append(tc.events, e)
			tc.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	tc.l = NewLayer(tc.tr, cfg)
	return tc
}

// runNets runs f in a fresh synctest bubble once over UDP and once over
// TCP, closing the Layer afterwards.
func runNets(t *testing.T, f func(t *testing.T, tc *testConn)) {
	for _, n := range []transport.Network{transport.UDP, transport.TCP} {
		t.Run(n.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc := newTestConn(t, n)
				defer tc.l.Close()
				f(t, tc)
			})
		})
	}
}

// run runs f in a fresh synctest bubble over network n.
func run(t *testing.T, n transport.Network, f func(t *testing.T, tc *testConn), opts ...func(*Config)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		tc := newTestConn(t, n, opts...)
		defer tc.l.Close()
		f(t, tc)
	})
}

// recv delivers msg as if received on the harness's flow.
func (tc *testConn) recv(msg sip.Message) {
	tc.t.Helper()
	tc.l.HandleIncoming(transport.Incoming{Message: msg, Flow: tc.flow, Time: time.Now()})
	synctest.Wait()
}

// advance moves the fake clock by d and lets every timer due run.
func (tc *testConn) advance(d time.Duration) {
	tc.t.Helper()
	time.Sleep(d)
	synctest.Wait()
}

// take returns the messages sent and not yet checked, marking them checked.
func (tc *testConn) take() []sentMsg {
	tc.tr.mu.Lock()
	defer tc.tr.mu.Unlock()
	s := tc.tr.sent[tc.next:]
	tc.next = len(tc.tr.sent)
	return s
}

// wantSent checks that the next message sent satisfies pred.
func (tc *testConn) wantSent(desc string, pred func(m sip.Message) bool) sentMsg {
	tc.t.Helper()
	tc.tr.mu.Lock()
	if tc.next >= len(tc.tr.sent) {
		tc.tr.mu.Unlock()
		tc.t.Fatalf("%s: nothing sent", desc)
	}
	s := tc.tr.sent[tc.next]
	tc.next++
	tc.tr.mu.Unlock()
	if !pred(s.msg) {
		tc.t.Fatalf("%s: sent instead:\n%s", desc, s.msg)
	}
	return s
}

// wantRequest checks that the next message sent is a method request.
func (tc *testConn) wantRequest(desc string, method sip.Method) *sip.Request {
	tc.t.Helper()
	s := tc.wantSent(desc, func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.Method == method
	})
	return s.msg.(*sip.Request)
}

// wantResponse checks that the next message sent is a code response.
func (tc *testConn) wantResponse(desc string, code sip.StatusCode) *sip.Response {
	tc.t.Helper()
	s := tc.wantSent(desc, func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode == code
	})
	if s.flow != tc.flow {
		tc.t.Fatalf("%s: response sent on %v, want %v", desc, s.flow, tc.flow)
	}
	return s.msg.(*sip.Response)
}

// wantNothingSent checks that nothing was sent since the last check.
func (tc *testConn) wantNothingSent(desc string) {
	tc.t.Helper()
	if s := tc.take(); len(s) > 0 {
		var b strings.Builder
		for _, m := range s {
			b.WriteString(firstLine(m.msg) + "\n")
		}
		tc.t.Fatalf("%s: want nothing sent, got:\n%s", desc, b.String())
	}
}

// wantRetransmissions advances through the given intervals and checks that
// exactly one copy of what is retransmitted is sent at the end of each,
// and nothing a millisecond before.
func (tc *testConn) wantRetransmissions(desc string, pred func(sip.Message) bool, intervals ...time.Duration) {
	tc.t.Helper()
	for i, d := range intervals {
		tc.advance(d - time.Millisecond)
		tc.wantNothingSent(fmt.Sprintf("%s: %v before retransmission %d", desc, time.Millisecond, i+1))
		tc.advance(time.Millisecond)
		tc.wantSent(fmt.Sprintf("%s: retransmission %d after %v", desc, i+1, d), pred)
		tc.wantNothingSent(fmt.Sprintf("%s: one copy of retransmission %d", desc, i+1))
	}
}

type stater interface{ State() State }

func (tc *testConn) wantState(tx stater, want State) {
	tc.t.Helper()
	if got := tx.State(); got != want {
		tc.t.Fatalf("state = %v, want %v", got, want)
	}
}

// wantDone checks that the transaction has terminated with an *Error of
// kind and timer (kind nil: a normal end).
func (tc *testConn) wantDone(tx interface {
	stater
	Done() <-chan struct{}
	Err() error
}, kind error, timer Timer) {
	tc.t.Helper()
	select {
	case <-tx.Done():
	default:
		tc.t.Fatalf("transaction not done; state %v", tx.State())
	}
	tc.wantState(tx, StateTerminated)
	err := tx.Err()
	if kind == nil {
		if err != nil {
			tc.t.Fatalf("Err() = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		tc.t.Fatalf("Err() = %v, want %v", err, kind)
	}
	var te *Error
	if !errors.As(err, &te) || te.Timer != timer {
		tc.t.Fatalf("Err() = %#v, want *Error with timer %v", err, timer)
	}
	if !strings.HasPrefix(err.Error(), "transaction: ") {
		tc.t.Fatalf("error text %q lacks the package prefix", err)
	}
}

// wantNotDone checks the transaction is still running.
func (tc *testConn) wantNotDone(tx interface{ Done() <-chan struct{} }) {
	tc.t.Helper()
	select {
	case <-tx.Done():
		tc.t.Fatalf("transaction terminated early")
	default:
	}
}

// wantResponses checks the responses the client transaction has passed to
// the TU since the last check.
func (tc *testConn) wantResponses(tx *ClientTx, codes ...sip.StatusCode) []*sip.Response {
	tc.t.Helper()
	var got []*sip.Response
loop:
	for range cap(tx.res) + 1 { // bounded: nothing else sends inside the bubble now
		select {
		case r, ok := <-tx.Responses():
			if !ok {
				break loop
			}
			got = append(got, r)
		default:
			break loop
		}
	}
	if len(got) != len(codes) {
		tc.t.Fatalf("TU got %d responses %v, want %v", len(got), statusCodes(got), codes)
	}
	for i := range got {
		if got[i].StatusCode != codes[i] {
			tc.t.Fatalf("TU got responses %v, want %v", statusCodes(got), codes)
		}
	}
	return got
}

// wantClosed checks that Responses has been closed (after draining).
func (tc *testConn) wantClosed(tx *ClientTx) {
	tc.t.Helper()
	for range cap(tx.res) + 1 {
		select {
		case _, ok := <-tx.Responses():
			if !ok {
				return
			}
		default:
			tc.t.Fatalf("Responses not closed")
		}
	}
	tc.t.Fatalf("Responses not closed")
}

func statusCodes(rs []*sip.Response) []sip.StatusCode {
	var c []sip.StatusCode
	for _, r := range rs {
		c = append(c, r.StatusCode)
	}
	return c
}

// serverTx returns the i-th server transaction given to OnRequest.
func (tc *testConn) serverTx(i int) *ServerTx {
	tc.t.Helper()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if i >= len(tc.requests) {
		tc.t.Fatalf("OnRequest called %d times, want at least %d", len(tc.requests), i+1)
	}
	return tc.requests[i]
}

func (tc *testConn) numRequests() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return len(tc.requests)
}

func (tc *testConn) numAcks() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return len(tc.acks)
}

// eventsOf returns the traced events of kind for key.
func (tc *testConn) eventsOf(kind EventKind) []Event {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []Event
	for _, e := range tc.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// request sends req through a new client transaction.
func (tc *testConn) request(req *sip.Request) *ClientTx {
	tc.t.Helper()
	tx, err := tc.l.Request(tc.t.Context(), req, transport.Dest{Network: tc.net, Addr: remoteAddr})
	if err != nil {
		tc.t.Fatalf("Request: %v", err)
	}
	return tx
}

// respond answers a server transaction, failing the test on error.
func (tc *testConn) respond(tx *ServerTx, res *sip.Response) {
	tc.t.Helper()
	if err := tx.Respond(tc.t.Context(), res); err != nil {
		tc.t.Fatalf("Respond %d: %v", res.StatusCode, err)
	}
	synctest.Wait()
}

// Message builders.

func firstLine(m sip.Message) string {
	s := m.String()
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// parse parses a message written with \n line ends.
func parse(t testing.TB, s string) sip.Message {
	t.Helper()
	s = strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n")
	m, err := sip.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, s)
	}
	return m
}

// req builds a request; branch "" means an RFC 2543 request without a
// branch; toTag "" means none.
type reqSpec struct {
	method  sip.Method
	branch  string
	sentBy  string
	toTag   string
	fromTag string
	callID  string
	seq     uint32
	cseqM   sip.Method // CSeq method when it differs (ACK, CANCEL)
	uri     string
}

func newReq(t testing.TB, s reqSpec) *sip.Request {
	t.Helper()
	if s.sentBy == "" {
		s.sentBy = "pc33.atlanta.example.com"
	}
	if s.fromTag == "" {
		s.fromTag = "1928301774"
	}
	if s.callID == "" {
		s.callID = "a84b4c76e66710@pc33.atlanta.example.com"
	}
	if s.seq == 0 {
		s.seq = 314159
	}
	if s.cseqM == "" {
		s.cseqM = s.method
	}
	if s.uri == "" {
		s.uri = "sip:bob@biloxi.example.com"
	}
	branch := ""
	if s.branch != "" {
		branch = ";branch=" + s.branch
	}
	to := ""
	if s.toTag != "" {
		to = ";tag=" + s.toTag
	}
	return parse(t, fmt.Sprintf(`
%s %s SIP/2.0
Via: SIP/2.0/UDP %s%s
Via: SIP/2.0/UDP earlier.example.com;branch=z9hG4bKearlier
Max-Forwards: 70
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.com;lr>
To: Bob <sip:bob@biloxi.example.com>%s
From: Alice <sip:alice@atlanta.example.com>;tag=%s
Call-ID: %s
CSeq: %d %s
Contact: <sip:alice@pc33.atlanta.example.com>
Content-Length: 0

`, s.method, s.uri, s.sentBy, branch, to, s.fromTag, s.callID, s.seq, s.cseqM)).(*sip.Request)
}

const testBranch = "z9hG4bK776asdhds"

func invite(t testing.TB) *sip.Request {
	return newReq(t, reqSpec{method: sip.INVITE, branch: testBranch})
}

func options(t testing.TB) *sip.Request {
	return newReq(t, reqSpec{method: sip.OPTIONS, branch: testBranch})
}

// response builds a response to req with a fixed To tag (so that
// retransmissions are equal) unless code is 100.
func response(req *sip.Request, code sip.StatusCode, toTag string) *sip.Response {
	res := sip.NewResponse(req, code)
	if code != sip.StatusTrying && toTag != "" {
		res.SetToTag(toTag)
	}
	return res
}

// ackFor builds the ACK a client transaction sends for a non-2xx final
// response to inv (same branch), or, with branch set, a new-transaction ACK
// as for a 2xx.
func ackFor(t testing.TB, inv *sip.Request, res *sip.Response, branch string) *sip.Request {
	t.Helper()
	v := *inv.TopVia()
	if branch != "" {
		v.Params = v.Params.Set("branch", branch)
	}
	cs, _ := inv.CSeq()
	ack := sip.NewRequest(sip.ACK, inv.URI)
	ack.PrependVia(v)
	ack.SetMaxForwards(70)
	ack.SetFrom(*inv.From())
	ack.SetTo(*res.To())
	ack.SetCallID(inv.CallID())
	ack.SetCSeq(sip.CSeq{Seq: cs.Seq, Method: sip.ACK})
	return ack
}

func isReq(method sip.Method) func(sip.Message) bool {
	return func(m sip.Message) bool {
		r, ok := m.(*sip.Request)
		return ok && r.Method == method
	}
}

func isRes(code sip.StatusCode) func(sip.Message) bool {
	return func(m sip.Message) bool {
		r, ok := m.(*sip.Response)
		return ok && r.StatusCode == code
	}
}

// reliable reports whether the harness's flow is reliable.
func (tc *testConn) reliable() bool { return tc.net.Reliable() }

const (
	t1 = DefaultT1
	t2 = DefaultT2
	t4 = DefaultT4
)
