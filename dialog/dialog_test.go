package dialog

import (
	"errors"
	"strings"
	"testing"

	"github.com/parleysip/parley/sip"
)

func parseReq(t *testing.T, s string) *sip.Request {
	t.Helper()
	m, err := sip.Parse([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*sip.Request)
}

func parseRes(t *testing.T, s string) *sip.Response {
	t.Helper()
	m, err := sip.Parse([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*sip.Response)
}

const invite = `INVITE sips:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sips:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sips:alice@client.atlanta.example.com>
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>
Content-Length: 0

`

const ok200 = `SIP/2.0 200 OK
Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9
Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>
From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sips:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sips:bob@client.biloxi.example.com>
Content-Length: 0

`

func TestUACDialog(t *testing.T) {
	req, res := parseReq(t, invite), parseRes(t, ok200)
	d, err := NewUAC(req, res, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID() != (ID{"3848276298220188511@atlanta.example.com", "9fxced76sl", "8321234356"}) || d.State() != Confirmed || !d.Secure() || !d.Initiator() {
		t.Errorf("dialog %+v state %v", d.ID(), d.State())
	}
	// §12.1.2: route set is Record-Route reversed.
	rs := d.RouteSet()
	if len(rs) != 2 || rs[0].URI.Host != "p1.example.com" || rs[1].URI.Host != "p2.example.com" {
		t.Errorf("route set %v", rs)
	}
	if _, ok := d.RemoteSeq(); ok || d.LocalSeq() != 2 {
		t.Error("sequence numbers")
	}
	bye, err := d.NewRequest(sip.BYE)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := bye.CSeq()
	if cs.Seq != 3 || bye.URI.Host != "client.biloxi.example.com" || len(bye.Routes()) != 2 || bye.Routes()[0].URI.Host != "p1.example.com" ||
		bye.To().Tag() != "8321234356" || bye.From().Tag() != "9fxced76sl" {
		t.Errorf("BYE:\n%s", bye)
	}
	ack := d.NewAck(2)
	if c, _ := ack.CSeq(); c != (sip.CSeq{Seq: 2, Method: sip.ACK}) || d.LocalSeq() != 3 {
		t.Errorf("ACK CSeq %v, local seq %d", c, d.LocalSeq())
	}
}

func TestUASDialogAndSequence(t *testing.T) {
	req := parseReq(t, invite)
	res := sip.NewResponse(req, sip.StatusRinging)
	res.SetToTag("uas1")
	d, err := NewUAS(req, res, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.State() != Early || d.Initiator() || d.Secure() {
		t.Errorf("state %v", d.State())
	}
	rs := d.RouteSet()
	if len(rs) != 2 || rs[0].URI.Host != "p2.example.com" {
		t.Errorf("UAS route set keeps Record-Route order: %v", rs)
	}
	if seq, ok := d.RemoteSeq(); !ok || seq != 2 {
		t.Error("remote seq")
	}
	in := func(method sip.Method, seq uint32, contact string) *sip.Request {
		r := parseReq(t, strings.Replace(strings.Replace(strings.Replace(invite, "CSeq: 2 INVITE", "CSeq: "+itoa(seq)+" "+string(method), 1),
			"INVITE sips:", string(method)+" sips:", 1), "To: Bob <sips:bob@biloxi.example.com>", "To: Bob <sips:bob@biloxi.example.com>;tag=uas1", 1))
		if contact != "" {
			r.SetContacts(sip.Contact{NameAddr: sip.NameAddr{URI: sip.URI{Scheme: "sip", Host: contact}}})
		}
		return r
	}
	if err := d.ReceiveRequest(in(sip.UPDATE, 3, "new.example.com")); err != nil {
		t.Fatal(err)
	}
	if d.RemoteTarget().Host != "new.example.com" {
		t.Error("UPDATE did not refresh the remote target")
	}
	if err := d.ReceiveRequest(in(sip.INFO, 2, "")); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("out-of-order request: %v", err)
	}
	if err := d.ReceiveRequest(in(sip.INFO, 4, "other.example.com")); err != nil || d.RemoteTarget().Host != "new.example.com" {
		t.Errorf("INFO is not a target refresh: %v %v", err, d.RemoteTarget())
	}
	if err := d.ReceiveRequest(in(sip.BYE, 5, "")); err != nil || d.State() != Terminated {
		t.Errorf("BYE: %v %v", err, d.State())
	}
	if _, err := d.NewRequest(sip.INFO); !errors.Is(err, ErrTerminated) {
		t.Error("request in a terminated dialog")
	}
	other := parseReq(t, invite) // no To tag: not in the dialog
	if err := d.ReceiveRequest(other); !errors.Is(err, ErrNotInDialog) {
		t.Errorf("foreign request: %v", err)
	}
}

func TestStrictRouting(t *testing.T) {
	req := parseReq(t, strings.Replace(invite, "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>", "Record-Route: <sip:p2.example.com>, <sip:p1.example.com;method=INVITE>", 1))
	res := parseRes(t, strings.Replace(ok200, "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>", "Record-Route: <sip:p2.example.com>, <sip:p1.example.com;method=INVITE>", 1))
	d, err := NewUAC(req, res, false)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := d.NewRequest(sip.BYE)
	// §12.2.1.1 strict routing: R-URI = first route (method param
	// stripped), Route = the rest plus the remote target.
	if r.URI.String() != "sip:p1.example.com" || len(r.Routes()) != 2 || r.Routes()[1].URI.Host != "client.biloxi.example.com" {
		t.Errorf("strict routing:\n%s", r)
	}
}

func TestResponses(t *testing.T) {
	req := parseReq(t, invite)
	ringing := parseRes(t, strings.Replace(strings.Replace(ok200, "200 OK", "180 Ringing", 1), "Contact: <sips:bob@client.biloxi.example.com>", "Contact: <sips:bob@early.example.com>", 1))
	d, err := NewUAC(req, ringing, false)
	if err != nil || d.State() != Early {
		t.Fatal(err, d.State())
	}
	if err := d.ReceiveResponse(parseRes(t, ok200)); err != nil || d.State() != Confirmed || d.RemoteTarget().Host != "client.biloxi.example.com" {
		t.Errorf("2xx: %v %v %v", err, d.State(), d.RemoteTarget())
	}
	if err := d.ReceiveResponse(parseRes(t, strings.Replace(ok200, "200 OK", "481 Call/Transaction Does Not Exist", 1))); err != nil || d.State() != Terminated {
		t.Errorf("481: %v %v", err, d.State())
	}
	if _, err := NewUAC(req, parseRes(t, strings.Replace(ok200, ";tag=8321234356", "", 1)), false); !errors.Is(err, ErrNoTag) {
		t.Errorf("no tag: %v", err)
	}
	if _, err := NewUAC(req, parseRes(t, strings.Replace(ok200, "200 OK", "100 Trying", 1)), false); !errors.Is(err, ErrNotDialogCreating) {
		t.Errorf("100: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	var r Registry
	req, res := parseReq(t, invite), parseRes(t, ok200)
	d, _ := NewUAC(req, res, false)
	r.Add(d)
	if got, ok := r.ForResponse(res); !ok || got != d {
		t.Error("ForResponse")
	}
	// A BYE from the peer: its From tag is our remote tag, its To tag our
	// local tag.
	in := sip.NewRequest(sip.BYE, sip.URI{Scheme: "sips", User: "alice", Host: "client.atlanta.example.com"})
	in.SetCallID(req.CallID())
	in.SetFrom(*res.To())
	in.SetTo(*req.From())
	if got, ok := r.ForRequest(in); !ok || got != d {
		t.Error("ForRequest did not find the dialog")
	}
	in.SetToTag("someone-else")
	if _, ok := r.ForRequest(in); ok {
		t.Error("request with another To tag matched")
	}
	if r.Len() != 1 {
		t.Error("Len")
	}
	r.Remove(d.ID())
	if _, ok := r.Get(d.ID()); ok {
		t.Error("Remove")
	}
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
