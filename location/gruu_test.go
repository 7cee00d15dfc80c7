package location

import (
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

func testGRUUs(t *testing.T, k byte) *GRUUs {
	t.Helper()
	key := make([]byte, 32)
	key[0] = k
	g, err := NewGRUUs(key)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

const inst = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"

func TestGRUURoundTrip(t *testing.T) {
	g := testGRUUs(t, 1)
	if _, err := NewGRUUs(make([]byte, 16)); err != ErrGRUUKey {
		t.Errorf("16-byte key: %v", err)
	}
	aor := "sip:alice@example.com"
	pub, err := g.Public(aor, inst)
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.String(); got != "sip:alice@example.com;gr="+inst {
		t.Errorf("public GRUU %s", got)
	}
	ref, ok := g.Resolve(pub)
	if !ok || ref.AoR != aor || ref.Instance != inst || ref.Temporary {
		t.Errorf("Resolve(public) = %+v, %v", ref, ok)
	}

	t1, err := g.Temporary(aor, inst, "call-1")
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := g.Temporary(aor, inst, "call-1")
	if t1.Equal(&t2) || t1.String() == t2.String() {
		t.Error("two temporary GRUUs are equal")
	}
	if !strings.HasPrefix(t1.User, "tgruu.") || t1.Host != "example.com" || !IsGRUU(&t1) || strings.Contains(t1.String(), "alice") {
		t.Errorf("temporary GRUU %s", t1.String())
	}
	// Through text, as a UA would send it back.
	back, err := sip.ParseURI(t1.String())
	if err != nil {
		t.Fatal(err)
	}
	ref, ok = g.Resolve(back)
	if !ok || ref.AoR != aor || ref.Instance != inst || !ref.Temporary {
		t.Errorf("Resolve(temporary) = %+v, %v", ref, ok)
	}
	// Another key, a changed token, another domain: not ours.
	if _, ok := testGRUUs(t, 2).Resolve(back); ok {
		t.Error("another key opened the GRUU")
	}
	bad := back
	bad.User = bad.User[:len(bad.User)-1] + "a"
	if bad.User == back.User {
		bad.User = bad.User[:len(bad.User)-1] + "b"
	}
	if _, ok := g.Resolve(bad); ok {
		t.Error("a tampered GRUU was accepted")
	}
	moved := back
	moved.Host = "example.org"
	if _, ok := g.Resolve(moved); ok {
		t.Error("a GRUU moved to another domain was accepted")
	}
	for _, s := range []string{"sip:tgruu.zz@example.com;gr", "sip:alice@example.com;gr", "sip:alice@example.com", "sip:tgruu.@example.com;gr"} {
		u, _ := sip.ParseURI(s)
		if _, ok := g.Resolve(u); ok {
			t.Errorf("Resolve(%s) accepted", s)
		}
	}
}

func TestGRUUBindings(t *testing.T) {
	g := testGRUUs(t, 1)
	aor := "sip:alice@example.com"
	now := time.Now()
	b := func(contact, instance, callID string, age time.Duration) Binding {
		u, _ := sip.ParseURI(contact)
		return Binding{AoR: aor, Contact: sip.Contact{NameAddr: sip.NameAddr{URI: u}}, InstanceID: instance, CallID: callID,
			Updated: now.Add(-age), Expires: now.Add(time.Hour)}
	}
	rec := Record{AoR: aor, Bindings: []Binding{
		b("sip:a@192.0.2.1", inst, "old", 2*time.Minute),
		b("sip:b@192.0.2.2", "urn:uuid:other", "x", 0),
		b("sip:c@192.0.2.3", inst, "new", time.Minute),
	}}
	pub, _ := g.Public(aor, inst)
	ref, _ := g.Resolve(pub)
	bs, valid := ref.Bindings(rec)
	if !valid || len(bs) != 2 || bs[0].Contact.URI.User != "c" || bs[1].Contact.URI.User != "a" {
		t.Errorf("public GRUU bindings %v valid %v: want c then a", bs, valid)
	}
	// A temporary GRUU issued for the newest contact's Call-ID is valid;
	// one issued for an older Call-ID was invalidated (RFC 5627 §5.1).
	tNew, _ := g.Temporary(aor, inst, "new")
	tOld, _ := g.Temporary(aor, inst, "old")
	rn, _ := g.Resolve(tNew)
	ro, _ := g.Resolve(tOld)
	if bs, valid := rn.Bindings(rec); !valid || len(bs) != 2 {
		t.Errorf("current temporary GRUU: %v, %v", bs, valid)
	}
	if _, valid := ro.Bindings(rec); valid {
		t.Error("a temporary GRUU of an older Call-ID is still valid")
	}
	// No contact of the instance left: public valid (480), temporary not
	// (404), §5.3.
	empty := Record{AoR: aor, Bindings: rec.Bindings[1:2]}
	if bs, valid := ref.Bindings(empty); !valid || len(bs) != 0 {
		t.Errorf("public GRUU without contacts: %v %v", bs, valid)
	}
	if _, valid := rn.Bindings(empty); valid {
		t.Error("temporary GRUU valid without contacts")
	}
}
