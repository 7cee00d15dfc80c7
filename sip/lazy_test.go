package sip

import (
	"reflect"
	"strings"
	"sync"
	"testing"
)

const lazyContactMsg = "REGISTER sip:example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776\r\n" +
	"From: <sip:a@example.com>;tag=1\r\n" +
	"To: <sip:a@example.com>\r\n" +
	"Call-ID: lazy@pc33\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Contact: \"A\" <sip:a@pc33.example.com;transport=tcp>;expires=60;q=0.5, <sip:a@10.0.0.1>\r\n" +
	"m: sip:a@10.0.0.2;expires=30\r\n" +
	"Content-Length: 0\r\n\r\n"

// wantContacts are the Contact values of lazyContactMsg as a message
// built with SetContacts holds them (decoded eagerly).
func wantContacts(t *testing.T) []Contact {
	t.Helper()
	var h Header
	for _, v := range []string{`"A" <sip:a@pc33.example.com;transport=tcp>;expires=60;q=0.5`, "<sip:a@10.0.0.1>", "sip:a@10.0.0.2;expires=30"} {
		if err := h.Add("Contact", v); err != nil {
			t.Fatal(err)
		}
	}
	return h.Contacts()
}

func TestLazyContactsDecodeAsEager(t *testing.T) {
	r := mustParseRequest(t, lazyContactMsg)
	if r.lazy&lazyContact == 0 {
		t.Fatal("parsed Contact values were decoded eagerly")
	}
	got, want := r.Contacts(), wantContacts(t)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lazy Contacts\n%+v\nwant\n%+v", got, want)
	}
	if e, ok := got[0].Expires(); !ok || e != 60 {
		t.Errorf("Expires %d %v", e, ok)
	}
	// The second call returns the same values, without decoding again.
	if n := testing.AllocsPerRun(10, func() { _ = r.Contacts() }); n != 0 {
		t.Errorf("second Contacts call allocates %v times", n)
	}
	if &r.Contacts()[0] != &got[0] {
		t.Error("Contacts decoded twice")
	}
	// An untouched message is written back byte for byte.
	if s := r.String(); s != lazyContactMsg {
		t.Errorf("round trip:\n%s", s)
	}
	// No Contact header: nothing to decode, no allocation.
	o := mustParseRequest(t, inviteMsg)
	o.Del("Contact")
	if n := testing.AllocsPerRun(10, func() { _ = o.Contacts() }); n != 0 || len(o.Contacts()) != 0 {
		t.Errorf("Contacts after Del: %d values, %v allocations", len(o.Contacts()), n)
	}
}

func TestLazyContactsSetWins(t *testing.T) {
	star := Contact{Star: true}
	for name, change := range map[string]func(r *Request){
		"SetContacts": func(r *Request) { r.SetContacts(star) },
		"Set":         func(r *Request) { _ = r.Set("Contact", "*") },
		"Del+Add": func(r *Request) {
			r.Del("m")
			_ = r.Add("Contact", "*")
		},
	} {
		r := mustParseRequest(t, lazyContactMsg)
		change(r)
		if cs := r.Contacts(); len(cs) != 1 || !cs[0].Star || r.Get("Contact") != "*" {
			t.Errorf("%s: Contacts %+v, Get %q", name, cs, r.Get("Contact"))
		}
	}
	// A change after the values were decoded keeps the others.
	r := mustParseRequest(t, lazyContactMsg)
	_ = r.Contacts()
	if err := r.Add("Contact", "*"); err != nil {
		t.Fatal(err)
	}
	if cs := r.Contacts(); len(cs) != 4 || !cs[3].Star || cs[2].URI.Host != "10.0.0.2" {
		t.Errorf("Add after decode: %+v", cs)
	}
	r = mustParseRequest(t, lazyContactMsg)
	if !r.removeFirst(hdrContact) {
		t.Fatal("removeFirst")
	}
	if cs := r.Contacts(); len(cs) != 2 || cs[0].URI.Host != "10.0.0.1" {
		t.Errorf("after removing the first Contact: %+v", cs)
	}
	if m, err := Parse([]byte(r.String())); err != nil || len(m.Headers().Contacts()) != 2 {
		t.Errorf("re-parse after removal: %v", err)
	}
}

func TestLazyContactsCloneAndConcurrentReads(t *testing.T) {
	r := mustParseRequest(t, lazyContactMsg)
	c := r.Clone()
	want := wantContacts(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := r
			if i%2 == 1 {
				m = c
			}
			if got := m.Contacts(); !reflect.DeepEqual(got, want) {
				t.Errorf("concurrent Contacts: %+v", got)
			}
		}()
	}
	wg.Wait()
	// The clone's values are its own.
	c.SetContacts(Contact{Star: true})
	if len(r.Contacts()) != 3 || r.Contacts()[0].Star {
		t.Error("a change to the clone reached the original")
	}
	// Values set through the API are shared by a clone until either
	// changes them.
	c2 := c.Clone()
	if err := c2.Add("Contact", "<sip:x@example.com>"); err != nil {
		t.Fatal(err)
	}
	c.SetContacts(Contact{NameAddr: NameAddr{URI: URI{Scheme: "sip", Host: "z.example.com"}}})
	if cs := c2.Contacts(); len(cs) != 2 || !cs[0].Star || cs[1].URI.Host != "example.com" {
		t.Errorf("clone of a clone: %+v", cs)
	}
	if cs := c.Contacts(); len(cs) != 1 || cs[0].URI.Host != "z.example.com" {
		t.Errorf("clone after SetContacts: %+v", cs)
	}
}

func TestLazyFromToTags(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	if r.from.p.Load() != nil || r.to.p.Load() != nil {
		t.Fatal("From/To decoded by the parser")
	}
	if r.FromTag() != "1928301774" || r.ToTag() != "" {
		t.Errorf("tags %q %q", r.FromTag(), r.ToTag())
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = r.FromTag(), r.ToTag() }); n != 0 {
		t.Errorf("tag reads allocate %v times", n)
	}
	if r.from.p.Load() != nil {
		t.Error("tag read decoded From")
	}
	f := r.From()
	if f.Display != "Alice" || f.URI.Host != "atlanta.com" || f.Tag() != "1928301774" || r.From() != f {
		t.Errorf("From %+v", f)
	}
	if s := r.String(); s != inviteMsg {
		t.Errorf("round trip after decode:\n%s", s)
	}
}

func TestLazyFromToSetWinsAndCopies(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	_ = r.To() // decoded, then replaced
	r.SetTo(NameAddr{URI: URI{Scheme: "sip", User: "carol", Host: "c.example"}, Params: ";tag=9"})
	if r.To().URI.User != "carol" || r.ToTag() != "9" {
		t.Errorf("SetTo after decode: %+v tag %q", r.To(), r.ToTag())
	}
	r = mustParseRequest(t, inviteMsg)
	if err := r.Set("From", "<sip:dave@d.example>;tag=x1"); err != nil {
		t.Fatal(err)
	}
	if r.From().URI.User != "dave" || r.FromTag() != "x1" {
		t.Errorf("Set From: %+v tag %q", r.From(), r.FromTag())
	}
	r.Del("From")
	if r.From() != nil || r.FromTag() != "" {
		t.Error("Del From left a value")
	}

	// A response to a parsed request: the To tag goes after the value as
	// written, To stays undecoded, and the message reads back the same.
	req := mustParseRequest(t, inviteMsg)
	res := NewResponse(req, StatusOK)
	if res.to.p.Load() != nil || res.ToTag() == "" || req.ToTag() != "" {
		t.Fatalf("response To tag %q (decoded %v), request's %q", res.ToTag(), res.to.p.Load() != nil, req.ToTag())
	}
	back, err := Parse([]byte(res.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sameMessage(res, back); err != nil {
		t.Error(err)
	}
	if back.Headers().To().URI.User != "bob" || back.Headers().ToTag() != res.ToTag() || res.To().Tag() != res.ToTag() {
		t.Errorf("response To %v", back.Headers().To())
	}

	// A built request's values are its own: a clone and a response copy
	// them, and a later change of the original reaches neither.
	b := NewRequest(INVITE, URI{Scheme: "sip", Host: "b.example"})
	b.SetFrom(NameAddr{URI: URI{Scheme: "sip", User: "a", Host: "a.example"}, Params: ";tag=f"})
	b.SetTo(NameAddr{URI: URI{Scheme: "sip", User: "b", Host: "b.example"}})
	b.SetCallID("c@x")
	b.SetCSeq(CSeq{Seq: 1, Method: INVITE})
	c := b.Clone()
	resp := NewResponse(b, StatusRinging)
	b.SetFrom(NameAddr{URI: URI{Scheme: "sip", User: "z", Host: "z.example"}})
	b.SetToTag("t2")
	if c.From().URI.User != "a" || c.FromTag() != "f" || c.ToTag() != "" {
		t.Errorf("clone changed with the original: %v %v", c.From(), c.To())
	}
	if resp.From().URI.User != "a" || resp.ToTag() == "" || resp.ToTag() == "t2" || resp.To().URI.User != "b" {
		t.Errorf("response changed with the request: %v %v", resp.From(), resp.To())
	}
	if b.ToTag() != "t2" || b.To().Tag() != "t2" || b.FromTag() != "" {
		t.Errorf("request after changes: %v %v", b.From(), b.To())
	}
}

func TestLazyFromToConcurrentReads(t *testing.T) {
	r := mustParseRequest(t, inviteMsg)
	c := r.Clone()
	var wg sync.WaitGroup
	ptrs := make([]*NameAddr, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := r
			if i%2 == 1 {
				m = c
			}
			ptrs[i] = m.To()
			if m.From().Tag() != "1928301774" || m.To().URI.User != "bob" {
				t.Errorf("concurrent From/To: %v %v", m.From(), m.To())
			}
		}()
	}
	wg.Wait()
	for i := 2; i < 8; i++ {
		if ptrs[i] != ptrs[i%2] {
			t.Errorf("goroutine %d got another To value than goroutine %d", i, i%2)
		}
	}
}

// TestSetToTagOnEmptyTag: a To written with an empty tag parameter gets
// its value replaced, not a second tag appended; one without gets the tag
// appended as written.
func TestSetToTagOnEmptyTag(t *testing.T) {
	for _, tc := range []struct{ to, want string }{
		{"<sip:bob@biloxi.com>;tag", "<sip:bob@biloxi.com>;tag=x1"},
		{"Bob <sip:bob@biloxi.com>;TAG;a=b", "Bob <sip:bob@biloxi.com>;tag=x1;a=b"},
		{"<sip:bob@biloxi.com> ;a=b", "<sip:bob@biloxi.com> ;a=b;tag=x1"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;tag=x1"},
	} {
		r := mustParseRequest(t, strings.Replace(optionsMsg, "To: <sip:bob@biloxi.com>", "To: "+tc.to, 1))
		r.SetToTag("x1")
		if got := r.Get("To"); got != tc.want || r.ToTag() != "x1" || r.To().Tag() != "x1" {
			t.Errorf("To %q: after SetToTag %q (ToTag %q), want %q", tc.to, got, r.ToTag(), tc.want)
		}
	}
}
