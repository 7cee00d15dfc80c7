package ua

import (
	"testing"

	"github.com/parleysip/parley/sip"
)

func TestNewRequest(t *testing.T) {
	target, _ := sip.ParseURI("sip:bob@biloxi.example.com;method=INVITE?subject=hi")
	contact := sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "192.0.2.4"}}
	id := Identity{From: sip.NameAddr{Display: "Alice", URI: sip.URI{Scheme: "sip", User: "alice", Host: "atlanta.example.com"}}, Contact: &contact}
	a := NewRequest(sip.INVITE, target, id)
	b := NewRequest(sip.INVITE, target, id)
	if a.URI.Headers != "" || a.URI.Params.Has("method") {
		t.Errorf("Request-URI %s keeps headers or method", a.URI.String())
	}
	if a.From().Tag() == "" || a.From().Tag() == b.From().Tag() || a.CallID() == b.CallID() {
		t.Error("From tag and Call-ID must be new for each request")
	}
	if id.From.Params.Has("tag") {
		t.Error("the identity was modified")
	}
	if a.To().Tag() != "" {
		t.Error("To has a tag")
	}
	cs, _ := a.CSeq()
	mf, _ := a.MaxForwards()
	if cs != (sip.CSeq{Seq: 1, Method: sip.INVITE}) || mf != 70 || len(a.Contacts()) != 1 {
		t.Errorf("CSeq %v Max-Forwards %d Contacts %d", cs, mf, len(a.Contacts()))
	}
	if o := NewRequest(sip.OPTIONS, target, id); len(o.Contacts()) != 0 {
		t.Error("OPTIONS got a Contact")
	}
	// The request parses back equal.
	a.PrependVia(sip.Via{Transport: "UDP", Host: "192.0.2.4", Params: ";branch=" + sip.Params(sip.NewBranch())})
	m, err := sip.Parse([]byte(a.String()))
	if err != nil || m.Headers().CallID() != a.CallID() {
		t.Fatalf("re-parse: %v", err)
	}
}
