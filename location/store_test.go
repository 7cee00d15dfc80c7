package location

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// clock is a settable time source shared by a test and its store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// opener makes a fresh, empty store for one test case.
type opener func(t *testing.T, c *clock) Store

// stores lists the stores the behavioural suite runs against. The Redis
// entry starts a redis-server for the whole suite.
func stores(outer *testing.T) []struct {
	name string
	open opener
} {
	return []struct {
		name string
		open opener
	}{
		{"memory", func(t *testing.T, c *clock) Store {
			s := NewMemory(MemoryOptions{Now: c.Now})
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"bolt", func(t *testing.T, c *clock) Store {
			s, err := OpenBolt(filepath.Join(t.TempDir(), "loc.db"), BoltOptions{Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"redis", func(t *testing.T, c *clock) Store {
			return newTestRedis(t, redisServer(t, outer), t.Name()+":", c)
		}},
	}
}

func TestStores(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Store, c *clock)
	}{
		{"AddRefreshRemove", testAddRefreshRemove},
		{"ExpiryHiddenBeforeSweep", testExpiry},
		{"UpdateAtomic", testUpdateAtomic},
		{"UpdateError", testUpdateError},
		{"Range", testRange},
		{"Delete", testDelete},
		{"WatchClose", testWatchClose},
	}
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := newClock()
					tc.run(t, st.open(t, c), c)
				})
			}
		})
	}
}

const aliceAoR = "sip:alice@example.com"

func mustContact(t testing.TB, uri, params string) sip.Contact {
	u, err := sip.ParseURI(uri)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return sip.Contact{NameAddr: sip.NameAddr{URI: u, Params: sip.Params(params)}}
}

// upsert adds b to the record or replaces the binding that is the same.
func upsert(b Binding) func(*Record) error {
	return func(r *Record) error {
		if i := r.Index(&b); i >= 0 {
			r.Bindings[i] = b
		} else {
			r.Bindings = append(r.Bindings, b)
		}
		return nil
	}
}

func remove(b Binding) func(*Record) error {
	return func(r *Record) error {
		if i := r.Index(&b); i >= 0 {
			r.Bindings = append(r.Bindings[:i], r.Bindings[i+1:]...)
		}
		return nil
	}
}

// next receives one change or fails after a while.
func next(t *testing.T, ch <-chan Change) Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return Change{}
}

func wantChange(t *testing.T, ch <-chan Change, kind ChangeKind, aor, contact string) Change {
	t.Helper()
	c := next(t, ch)
	if c.Kind != kind || c.AoR != aor || c.Binding.Contact.URI.String() != contact {
		t.Fatalf("change = %v %s %s, want %v %s %s", c.Kind, c.AoR, c.Binding.Contact.URI.String(), kind, aor, contact)
	}
	return c
}

func noChange(t *testing.T, ch <-chan Change) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected change %v %s", c.Kind, c.Binding.Contact.URI.String())
	case <-time.After(20 * time.Millisecond):
	}
}

func testAddRefreshRemove(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	events := s.Watch(ctx, 16)
	now := c.Now()
	flow := transport.Flow{
		Network: transport.TCP,
		Local:   netip.MustParseAddrPort("192.0.2.1:5060"),
		Remote:  netip.MustParseAddrPort("[2001:db8::7]:41234"),
		ConnID:  7,
	}
	a := Binding{
		Contact: mustContact(t, "sip:alice@192.0.2.7:5060;transport=tcp;ob",
			`;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;+sip.audio;audio;video;methods="INVITE,BYE";expires=3600`),
		Expires:    now.Add(time.Hour),
		Q:          500,
		CallID:     "843817637684230@998sdasdh09",
		CSeq:       1826,
		Path:       []string{"<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"},
		InstanceID: "urn:uuid:00000000-0000-1000-8000-000A95A0E128",
		RegID:      1,
		Received:   netip.MustParseAddrPort("[2001:db8::7]:41234"),
		Flow:       flow,
		Node:       "node-a",
	}
	rec, err := s.Update(ctx, aliceAoR, upsert(a))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Bindings) != 1 || rec.Version != 1 {
		t.Fatalf("after add: %d bindings, version %d", len(rec.Bindings), rec.Version)
	}
	wantChange(t, events, Created, aliceAoR, a.Contact.URI.String())

	got, err := s.Get(ctx, aliceAoR)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Bindings) != 1 {
		t.Fatalf("Get: %d bindings", len(got.Bindings))
	}
	g := got.Bindings[0]
	want := a
	want.AoR = aliceAoR
	want.Updated = now
	if !g.equal(&want) {
		t.Fatalf("stored binding differs:\n got %+v\nwant %+v", g, want)
	}
	if g.Contact.String() != a.Contact.String() {
		t.Errorf("Contact = %s, want verbatim %s", g.Contact.String(), a.Contact.String())
	}
	if v, _ := g.Contact.Params.Get("methods"); v != `"INVITE,BYE"` {
		t.Errorf("feature tag methods = %q", v)
	}

	b := Binding{Contact: mustContact(t, "sip:alice@198.51.100.3", ""), Expires: now.Add(30 * time.Minute), Q: 1000, CallID: "x", CSeq: 1}
	if _, err := s.Update(ctx, aliceAoR, upsert(b)); err != nil {
		t.Fatal(err)
	}
	wantChange(t, events, Created, aliceAoR, "sip:alice@198.51.100.3")

	// Refresh a: same instance-id and reg-id, a new CSeq and expiry.
	c.Add(time.Minute)
	a2 := a
	a2.CSeq++
	a2.Expires = c.Now().Add(time.Hour)
	a2.Updated = time.Time{}
	rec, err = s.Update(ctx, aliceAoR, upsert(a2))
	if err != nil {
		t.Fatal(err)
	}
	ch := wantChange(t, events, Refreshed, aliceAoR, a.Contact.URI.String())
	if ch.Binding.CSeq != a.CSeq+1 || ch.Version != 3 || rec.Version != 3 {
		t.Errorf("refresh: CSeq %d version %d/%d", ch.Binding.CSeq, ch.Version, rec.Version)
	}
	if !rec.Bindings[0].Updated.Equal(c.Now()) {
		t.Errorf("Updated = %v, want %v", rec.Bindings[0].Updated, c.Now())
	}

	// An update that changes nothing writes nothing.
	rec, err = s.Update(ctx, aliceAoR, func(*Record) error { return nil })
	if err != nil || rec.Version != 3 || len(rec.Bindings) != 2 {
		t.Fatalf("no-op update: version %d, %d bindings, %v", rec.Version, len(rec.Bindings), err)
	}
	noChange(t, events)

	if _, err := s.Update(ctx, aliceAoR, remove(b)); err != nil {
		t.Fatal(err)
	}
	wantChange(t, events, Removed, aliceAoR, "sip:alice@198.51.100.3")
	got, err = s.Get(ctx, aliceAoR)
	if err != nil || len(got.Bindings) != 1 || got.Bindings[0].CSeq != a.CSeq+1 {
		t.Fatalf("after remove: %+v, %v", got, err)
	}

	// A missing AoR is an empty record.
	got, err = s.Get(ctx, "sip:nobody@example.com")
	if err != nil || len(got.Bindings) != 0 || got.Version != 0 {
		t.Fatalf("missing AoR: %+v, %v", got, err)
	}
}

func testExpiry(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	now := c.Now()
	short := Binding{Contact: mustContact(t, "sip:alice@192.0.2.1", ""), Expires: now.Add(10 * time.Second), Q: 1000}
	long := Binding{Contact: mustContact(t, "sip:alice@192.0.2.2", ""), Expires: now.Add(100 * time.Second), Q: 1000}
	for _, b := range []Binding{short, long} {
		if _, err := s.Update(ctx, aliceAoR, upsert(b)); err != nil {
			t.Fatal(err)
		}
	}
	events := s.Watch(ctx, 16)
	c.Add(20 * time.Second)

	// Hidden before any sweep, from Get, Range and Update alike.
	rec, err := s.Get(ctx, aliceAoR)
	if err != nil || len(rec.Bindings) != 1 || rec.Bindings[0].Contact.URI.Host != "192.0.2.2" {
		t.Fatalf("Get after expiry: %+v, %v", rec, err)
	}
	n := 0
	if err := s.Range(ctx, func(r Record) bool { n += len(r.Bindings); return true }); err != nil || n != 1 {
		t.Fatalf("Range after expiry: %d bindings, %v", n, err)
	}
	noChange(t, events)

	removed, err := s.Expire(ctx, c.Now())
	if err != nil || removed != 1 {
		t.Fatalf("Expire = %d, %v; want 1", removed, err)
	}
	wantChange(t, events, Expired, aliceAoR, "sip:alice@192.0.2.1")
	if removed, err = s.Expire(ctx, c.Now()); err != nil || removed != 0 {
		t.Fatalf("second Expire = %d, %v; want 0", removed, err)
	}

	c.Add(100 * time.Second)
	if rec, _ := s.Get(ctx, aliceAoR); len(rec.Bindings) != 0 {
		t.Fatalf("Get after all expired: %d bindings", len(rec.Bindings))
	}
	if removed, err = s.Expire(ctx, c.Now()); err != nil || removed != 1 {
		t.Fatalf("last Expire = %d, %v; want 1", removed, err)
	}
	wantChange(t, events, Expired, aliceAoR, "sip:alice@192.0.2.2")
	if rec, _ := s.Get(ctx, aliceAoR); rec.Version != 0 {
		t.Errorf("record still exists after its last binding expired: version %d", rec.Version)
	}

	// An expired binding not yet swept is reported by the next update.
	short.Expires = c.Now().Add(time.Second)
	if _, err := s.Update(ctx, aliceAoR, upsert(short)); err != nil {
		t.Fatal(err)
	}
	wantChange(t, events, Created, aliceAoR, "sip:alice@192.0.2.1")
	c.Add(2 * time.Second)
	long.Expires = c.Now().Add(time.Hour)
	if _, err := s.Update(ctx, aliceAoR, upsert(long)); err != nil {
		t.Fatal(err)
	}
	got := map[ChangeKind]string{}
	for range 2 {
		ch := next(t, events)
		got[ch.Kind] = ch.Binding.Contact.URI.Host
	}
	if got[Created] != "192.0.2.2" || got[Expired] != "192.0.2.1" {
		t.Errorf("changes of update over an expired binding: %v", got)
	}
}

func testUpdateAtomic(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	b := Binding{Contact: mustContact(t, "sip:alice@192.0.2.1", ""), Expires: c.Now().Add(time.Hour), Q: 1000}
	if _, err := s.Update(ctx, aliceAoR, upsert(b)); err != nil {
		t.Fatal(err)
	}
	const workers = 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			_, err := s.Update(ctx, aliceAoR, func(r *Record) error {
				if len(r.Bindings) != 1 {
					return fmt.Errorf("%d bindings", len(r.Bindings))
				}
				r.Bindings[0].CSeq++
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.Get(ctx, aliceAoR)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Bindings[0].CSeq != workers || rec.Version != workers+1 {
		t.Fatalf("CSeq = %d, version = %d; want %d, %d (lost updates)", rec.Bindings[0].CSeq, rec.Version, workers, workers+1)
	}
}

func testUpdateError(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	events := s.Watch(ctx, 4)
	boom := errors.New("boom")
	_, err := s.Update(ctx, aliceAoR, func(r *Record) error {
		r.Bindings = append(r.Bindings, Binding{Contact: mustContact(t, "sip:a@192.0.2.1", ""), Expires: c.Now().Add(time.Hour)})
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want %v", err, boom)
	}
	if rec, _ := s.Get(ctx, aliceAoR); len(rec.Bindings) != 0 {
		t.Fatal("failed update wrote bindings")
	}
	noChange(t, events)
}

func testRange(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	const n = 300 // more than a Bolt page
	for i := range n {
		aor := fmt.Sprintf("sip:user%03d@example.com", i)
		b := Binding{Contact: mustContact(t, fmt.Sprintf("sip:user%03d@192.0.2.1", i), ""), Expires: c.Now().Add(time.Hour), Q: 1000}
		if i%10 == 0 {
			b.Expires = c.Now().Add(time.Second)
		}
		if _, err := s.Update(ctx, aor, upsert(b)); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(2 * time.Second)
	seen := map[string]bool{}
	err := s.Range(ctx, func(r Record) bool {
		if len(r.Bindings) != 1 || r.Bindings[0].AoR != r.AoR {
			t.Errorf("Range record %s: %+v", r.AoR, r.Bindings)
		}
		seen[r.AoR] = true
		return true
	})
	if err != nil || len(seen) != n-n/10 {
		t.Fatalf("Range saw %d records, %v; want %d", len(seen), err, n-n/10)
	}
	calls := 0
	if err := s.Range(ctx, func(Record) bool { calls++; return calls < 5 }); err != nil || calls != 5 {
		t.Fatalf("Range did not stop: %d calls, %v", calls, err)
	}
	// fn may write to the store.
	err = s.Range(ctx, func(r Record) bool {
		_, err := s.Update(ctx, r.AoR, func(r *Record) error { r.Bindings[0].CSeq = 9; return nil })
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDelete(t *testing.T, s Store, c *clock) {
	ctx := t.Context()
	for _, h := range []string{"192.0.2.1", "192.0.2.2"} {
		b := Binding{Contact: mustContact(t, "sip:alice@"+h, ""), Expires: c.Now().Add(time.Hour)}
		if _, err := s.Update(ctx, aliceAoR, upsert(b)); err != nil {
			t.Fatal(err)
		}
	}
	events := s.Watch(ctx, 4)
	if err := s.Delete(ctx, aliceAoR); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ch := next(t, events); ch.Kind != Removed {
			t.Errorf("Delete emitted %v", ch.Kind)
		}
	}
	if rec, _ := s.Get(ctx, aliceAoR); len(rec.Bindings) != 0 || rec.Version != 0 {
		t.Fatalf("after Delete: %+v", rec)
	}
}

func testWatchClose(t *testing.T, s Store, c *clock) {
	ctx, cancel := context.WithCancel(t.Context())
	events := s.Watch(ctx, 1)
	other := s.Watch(t.Context(), 1)
	// Overflow: three changes into a buffer of one.
	for _, h := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		b := Binding{Contact: mustContact(t, "sip:alice@"+h, ""), Expires: c.Now().Add(time.Hour)}
		if _, err := s.Update(t.Context(), aliceAoR, upsert(b)); err != nil {
			t.Fatal(err)
		}
	}
	if ch := next(t, other); ch.Binding.Contact.URI.Host != "192.0.2.1" {
		t.Fatalf("first change: %s", ch.Binding.Contact.URI.Host)
	}
	if err := s.Delete(t.Context(), aliceAoR); err != nil {
		t.Fatal(err)
	}
	if ch := next(t, other); ch.Lost != 2 {
		t.Errorf("after overflow: Lost = %d, want 2", ch.Lost)
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				goto closed
			}
		case <-deadline:
			t.Fatal("watch channel not closed after its context ended")
		}
	}
closed:
	s.Close()
	select {
	case _, ok := <-other:
		for ok {
			_, ok = <-other
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed by Close")
	}
	if _, err := s.Get(t.Context(), aliceAoR); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

func TestCanonicalAoR(t *testing.T) {
	for in, want := range map[string]string{
		"sip:Alice@EXAMPLE.com;user=phone?x=y":    "sip:Alice@example.com",
		"SIPS:bob@example.com:5061;transport=tls": "sips:bob@example.com:5061",
		"sip:%61lice@example.com":                 "sip:alice@example.com",
	} {
		u, err := sip.ParseURI(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := CanonicalAoR(u); err != nil || got != want {
			t.Errorf("CanonicalAoR(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := CanonicalAoR(sip.URI{Scheme: "tel", User: "+1234"}); !errors.Is(err, ErrNotSIP) {
		t.Errorf("tel URI: %v", err)
	}
}
