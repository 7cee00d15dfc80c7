package sip

import "testing"

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"sip:alice@atlanta.com", URI{Scheme: "sip", User: "alice", Host: "atlanta.com"}},
		{"sip:alice:secretword@atlanta.com;transport=tcp", URI{Scheme: "sip", User: "alice", Password: "secretword", Host: "atlanta.com", Params: ";transport=tcp"}},
		{"sips:alice@atlanta.com?subject=project%20x&priority=urgent", URI{Scheme: "sips", User: "alice", Host: "atlanta.com", Headers: "subject=project%20x&priority=urgent"}},
		{"sip:+1-212-555-1212:1234@gateway.com;user=phone", URI{Scheme: "sip", User: "+1-212-555-1212", Password: "1234", Host: "gateway.com", Params: ";user=phone"}},
		{"sips:1212@gateway.com", URI{Scheme: "sips", User: "1212", Host: "gateway.com"}},
		{"sip:alice@192.0.2.4", URI{Scheme: "sip", User: "alice", Host: "192.0.2.4"}},
		{"sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", URI{Scheme: "sip", Host: "atlanta.com", Params: ";method=REGISTER", Headers: "to=alice%40atlanta.com"}},
		{"sip:alice;day=tuesday@atlanta.com", URI{Scheme: "sip", User: "alice;day=tuesday", Host: "atlanta.com"}},
		{"sip:[2001:db8::10]:5070;lr", URI{Scheme: "sip", Host: "2001:db8::10", Port: 5070, Params: ";lr"}},
		{"sip:user@[::1]", URI{Scheme: "sip", User: "user", Host: "::1"}},
		{"tel:+1-201-555-0123;phone-context=example.com", URI{Scheme: "tel", User: "+1-201-555-0123", Params: ";phone-context=example.com"}},
		{"urn:service:sos", URI{Scheme: "urn", Opaque: "service:sos"}},
		{"sip:host:05060", URI{Scheme: "sip", Host: "host", Port: 5060}},
	}
	for _, tt := range tests {
		got, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if tt.in != "sip:host:05060" && got.String() != tt.in {
			t.Errorf("ParseURI(%q).String() = %q", tt.in, got.String())
		}
		if len(got.String()) != got.Len() {
			t.Errorf("%q: Len %d != %d", tt.in, got.Len(), len(got.String()))
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, in := range []string{
		"", "sip", ":foo", "1sip:host", "sip:", "sip:@host", "sip:user@", "sip:host:99999",
		"sip:host:port", "sip:[::1", "sip:[zz::1]", "sip:user@host;", "sip:user@host;=x",
		"sip:user@host;a=", "sip:us%zzer@host", "sip:user@host?x", "sip:user@host?=v",
		"sip:a b@host", "sip:user@ho st", "tel:", "tel:+1;", "mailto:", "http:a<b",
		"sip:user@host;a b", "sip:[fe80::1%eth0]",
	} {
		if u, err := ParseURI(in); err == nil {
			t.Errorf("ParseURI(%q) = %+v, want an error", in, u)
		}
	}
}

// TestURIEqual holds the examples of RFC 3261 §19.1.4.
func TestURIEqual(t *testing.T) {
	equal := [][2]string{
		{"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;security=on"},
		{"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com", "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent", "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
		{"sip:user@[2001:db8::1]", "sip:user@[2001:0db8:0:0:0:0:0:1]"},
		{"tel:+1-201-555-0123", "tel:+1.201.555.0123"},
		{"tel:+1-201-555-0123;phone-context=A", "tel:+12015550123;PHONE-CONTEXT=a"},
	}
	notEqual := [][2]string{
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},
		{"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"},
		{"sip:alice@atlanta.com", "sips:alice@atlanta.com"},
		{"sip:a%3Bb@host", "sip:a;b@host"},
		{"sip:null-%00-null@example.com", "sip:null-@example.com"},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0124"},
		{"urn:a", "urn:b"},
	}
	for _, p := range equal {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if !a.Equal(&b) || !b.Equal(&a) {
			t.Errorf("%s and %s should be equal", p[0], p[1])
		}
	}
	for _, p := range notEqual {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if a.Equal(&b) || b.Equal(&a) {
			t.Errorf("%s and %s should differ", p[0], p[1])
		}
	}
}

func TestParams(t *testing.T) {
	p := Params(" ; branch = z9hG4bK1 ;rport; received=\"a;b\" ;lr")
	if v, ok := p.Get("BRANCH"); !ok || v != "z9hG4bK1" {
		t.Errorf("Get(branch) = %q %v", v, ok)
	}
	if v, ok := p.Get("rport"); !ok || v != "" {
		t.Errorf("Get(rport) = %q %v", v, ok)
	}
	if v, _ := p.Get("received"); v != `"a;b"` || Unquote(v) != "a;b" {
		t.Errorf("Get(received) = %q", v)
	}
	if p.Has("nope") {
		t.Error("Has(nope)")
	}
	if n := p.Len(); n != 4 {
		t.Errorf("Len = %d", n)
	}
	if got := p.Set("rport", "5060"); got != `;branch=z9hG4bK1;rport=5060;received="a;b";lr` {
		t.Errorf("Set = %q", got)
	}
	if got := p.Del("branch"); got != `;rport;received="a;b";lr` {
		t.Errorf("Del = %q", got)
	}
	if got := Params("").Set("tag", "x"); got != ";tag=x" {
		t.Errorf("Set on empty = %q", got)
	}
	if got := p.Canonical(); got != `;branch=z9hG4bK1;rport;received="a;b";lr` {
		t.Errorf("Canonical = %q", got)
	}
	for _, bad := range []string{";", ";;", ";a=", ";a=\"x", "x", "; =v", ";a=b c"} {
		if validHeaderParams(bad) {
			t.Errorf("validHeaderParams(%q) = true", bad)
		}
	}
}

func TestNameAddr(t *testing.T) {
	tests := []struct {
		in                   string
		display, uri, params string
		quoted               bool
	}{
		{`"Bob" <sips:bob@biloxi.com> ;tag=a48s`, "Bob", "sips:bob@biloxi.com", " ;tag=a48s", true},
		{`Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8`, "Anonymous", "sip:c8oqz84zk7z@privacy.org", ";tag=hyh8", false},
		{`sip:+12125551212@phone2net.com;tag=887s`, "", "sip:+12125551212@phone2net.com", ";tag=887s", false},
		{`<sip:[::1]:5060;lr>`, "", "sip:[::1]:5060;lr", "", false},
		{`"A \"quoted\" name"<sip:a@b>`, `A \"quoted\" name`, "sip:a@b", "", true},
	}
	for _, tt := range tests {
		var n NameAddr
		if err := parseNameAddr(&n, tt.in); err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if n.Display != tt.display || n.URI.String() != tt.uri || string(n.Params) != tt.params || n.Quoted != tt.quoted {
			t.Errorf("%q: got display %q uri %q params %q quoted %v", tt.in, n.Display, n.URI.String(), n.Params, n.Quoted)
		}
		var back NameAddr
		if err := parseNameAddr(&back, n.String()); err != nil || back.URI != n.URI || back.Display != n.Display {
			t.Errorf("%q: re-encoded %q does not parse back equal (%v)", tt.in, n.String(), err)
		}
	}
	// An addr-spec with URI parameters cannot be written bare: they would
	// become header parameters.
	n := NameAddr{URI: URI{Scheme: "sip", Host: "h", Params: ";lr"}, Bare: true}
	if got := n.String(); got != "<sip:h;lr>" {
		t.Errorf("bare with URI params = %q", got)
	}
	q := NameAddr{Display: `Bob \"B\"`, Quoted: true, URI: URI{Scheme: "sip", Host: "h"}}
	if got := q.DisplayName(); got != `Bob "B"` {
		t.Errorf("DisplayName = %q", got)
	}
}

func TestContactParams(t *testing.T) {
	var c Contact
	if err := parseContact(&c, `<sip:a@b>;expires=3600;q=0.7`); err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Expires(); !ok || e != 3600 {
		t.Errorf("Expires = %d %v", e, ok)
	}
	if q, ok := c.Q(); !ok || q != 700 {
		t.Errorf("Q = %d %v", q, ok)
	}
	for _, q := range []string{"1.5", "2", "0.1234", "x", "1.001"} {
		if _, ok := parseQValue(q); ok {
			t.Errorf("qvalue %q accepted", q)
		}
	}
	for q, want := range map[string]int{"1": 1000, "1.000": 1000, "0": 0, "0.5": 500, "0.001": 1} {
		if got, ok := parseQValue(q); !ok || got != want {
			t.Errorf("qvalue %q = %d %v, want %d", q, got, ok, want)
		}
	}
	var star Contact
	if err := parseContact(&star, " * "); err != nil || !star.Star || star.String() != "*" {
		t.Errorf("star contact: %+v %v", star, err)
	}
}
