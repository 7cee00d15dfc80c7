package resolve

import (
	"testing"
	"time"
)

func TestCacheBoundAndLRU(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	c := NewCache(2)
	c.now = clock.Now
	k := func(n string) cacheKey { return cacheKey{n, 1} }
	c.put(&cacheEntry{key: k("a.")}, time.Minute)
	c.put(&cacheEntry{key: k("b.")}, time.Minute)
	if _, _, ok := c.get(k("a.")); !ok { // a is now most recently used
		t.Fatal("a missing")
	}
	c.put(&cacheEntry{key: k("c.")}, time.Minute)
	if n := c.Len(); n != 2 {
		t.Fatalf("Len %d, want 2", n)
	}
	if _, _, ok := c.get(k("b.")); ok {
		t.Error("b survived; the least recently used entry should have been evicted")
	}
	for _, n := range []string{"a.", "c."} {
		if _, _, ok := c.get(k(n)); !ok {
			t.Errorf("%s evicted", n)
		}
	}

	// TTL 0 is not cached; expiry removes entries.
	c.put(&cacheEntry{key: k("zero.")}, 0)
	if _, _, ok := c.get(k("zero.")); ok {
		t.Error("TTL 0 answer was cached")
	}
	clock.Advance(59 * time.Second)
	if _, left, ok := c.get(k("a.")); !ok || left != time.Second {
		t.Errorf("after 59s: ok=%v left=%v, want true 1s", ok, left)
	}
	clock.Advance(time.Second)
	if _, _, ok := c.get(k("a.")); ok {
		t.Error("entry alive at its expiry time")
	}
	c.Flush()
	if c.Len() != 0 {
		t.Error("Flush left entries")
	}

	var zero Cache // the zero value is usable
	zero.put(&cacheEntry{key: k("z.")}, time.Minute)
	if _, _, ok := zero.get(k("z.")); !ok || zero.max != DefaultCacheSize {
		t.Errorf("zero Cache: ok=%v max=%d", ok, zero.max)
	}
}
