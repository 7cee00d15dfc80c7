package resolve

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DefaultCacheSize is the number of (name, type) answers a [Cache] keeps when
// no other bound is given.
const DefaultCacheSize = 10000

const (
	// maxPositiveTTL caps how long an answer is kept whatever its TTL says
	// (RFC 2181 §8 allows up to 2^31-1 seconds; a day is plenty).
	maxPositiveTTL = 24 * time.Hour
	// maxNegativeTTL caps negative caching (RFC 2308 §5): failover in SIP
	// wants a new record to be seen soon.
	maxNegativeTTL = 5 * time.Minute
	// defaultNegativeTTL is used for a negative answer that carries no SOA
	// record to take the negative TTL from (RFC 2308 §5).
	defaultNegativeTTL = 30 * time.Second
)

type cacheKey struct {
	name  string // lower-case, fully qualified
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	rrs     []dns.RR // records of key.qtype for the name, CNAMEs followed; read-only
	extra   []dns.RR // additional-section address records (SRV target hints); read-only
	neg     bool     // negative answer (NXDOMAIN or NODATA)
	rcode   int      // response code of a negative answer
	expires time.Time
}

// Cache is a bounded, TTL-respecting cache of DNS answers keyed by (name,
// query type). Positive answers are kept for the smallest TTL of the records
// used; negative answers (NXDOMAIN, NODATA) for the SOA-derived negative TTL
// of RFC 2308 §5, at most five minutes. When full, the least recently used
// entry is dropped. A Cache is safe for concurrent use and may be shared by
// several Resolvers; the zero value is an empty cache of [DefaultCacheSize]
// entries.
type Cache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front = most recently used; values are *cacheEntry
	m   map[cacheKey]*list.Element

	now func() time.Time // clock, replaceable in tests
}

// NewCache returns an empty cache holding at most maxEntries answers
// (DefaultCacheSize if maxEntries <= 0).
func NewCache(maxEntries int) *Cache {
	return &Cache{max: maxEntries}
}

func (c *Cache) init() {
	if c.m == nil {
		c.m = make(map[cacheKey]*list.Element)
		c.ll = list.New()
	}
	if c.max <= 0 {
		c.max = DefaultCacheSize
	}
}

func (c *Cache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Len returns the number of answers currently held, expired ones included
// until they are looked up or evicted.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ll == nil {
		return 0
	}
	return c.ll.Len()
}

// Flush drops every answer.
func (c *Cache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.ll = nil
}

// get returns the live entry for k and its remaining lifetime. Expired
// entries are removed.
func (c *Cache) get(k cacheKey) (*cacheEntry, time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	el, ok := c.m[k]
	if !ok {
		return nil, 0, false
	}
	e := el.Value.(*cacheEntry)
	left := e.expires.Sub(c.clock())
	if left <= 0 {
		c.ll.Remove(el)
		delete(c.m, k)
		return nil, 0, false
	}
	c.ll.MoveToFront(el)
	return e, left, true
}

// put stores e to live for ttl. A ttl of zero or less is not cached (RFC
// 1035 §3.2.1: TTL 0 means the record may only be used for the transaction
// in progress).
func (c *Cache) put(e *cacheEntry, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	e.expires = c.clock().Add(ttl)
	if el, ok := c.m[e.key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[e.key] = c.ll.PushFront(e)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).key)
	}
}
