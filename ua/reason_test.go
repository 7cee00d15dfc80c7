package ua

import (
	"context"
	"errors"
	"testing"

	"github.com/parleysip/parley/sip"
)

// TestReason: RFC 3326 §2 values encode and parse back; broken ones are
// refused.
func TestReason(t *testing.T) {
	for _, r := range []*Reason{ReasonCompletedElsewhere, ReasonNormal, {Protocol: "SIP", Cause: 487}, {Protocol: "Q.850", Cause: 17, Text: `busy "now"`}} {
		got, err := ParseReason(r.String())
		if err != nil || *got != *r {
			t.Errorf("%s: parsed %+v, %v", r, got, err)
		}
	}
	if r, err := ParseReason(`SIP ; cause=200 ; text="Call completed elsewhere"`); err != nil || r.Cause != 200 || r.Text != "Call completed elsewhere" {
		t.Errorf("spaced form: %+v %v", r, err)
	}
	for _, bad := range []string{"", ";cause=1", "SIP", "SIP;cause=x", "SIP;cause=-1", "S I P;cause=1"} {
		if _, err := ParseReason(bad); err == nil {
			t.Errorf("ParseReason(%q) accepted", bad)
		}
	}
}

// Test481EndsSession: a 481 to a request within the dialog ends it
// (§12.2.1.2).
func Test481EndsSession(t *testing.T) {
	r := newRaw(t)
	a := newAgent(t, "alice", nil)
	s, _ := rawCall(t, a, r)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Message(context.Background(), "text/plain", []byte("x"))
		errc <- err
	}()
	m, from := r.expect(sip.MESSAGE)
	r.send(sip.NewResponse(m, sip.StatusCallTransactionDoesNotExist), from)
	var se *StatusError
	if err := <-errc; !errors.As(err, &se) {
		t.Fatalf("Message = %v", err)
	}
	<-s.Done()
	if !errors.As(s.Err(), &se) || se.Response.StatusCode != sip.StatusCallTransactionDoesNotExist {
		t.Errorf("Err %v", s.Err())
	}
	if a.Sessions() != 0 {
		t.Errorf("%d sessions left", a.Sessions())
	}
}
