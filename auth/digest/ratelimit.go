package digest

import (
	"net/netip"
	"sync"
	"time"

	"github.com/parleysip/parley/sip"
)

// RateLimit limits failed authentication attempts per source IP address
// with a token bucket: each source may fail Burst times, and regains one
// attempt every Interval. A source with no attempt left is refused without
// its credentials being checked until it regains one. The zero value
// enables the limit with the defaults below.
type RateLimit struct {
	// Disabled turns rate limiting off.
	Disabled bool
	// Burst is the number of failures a source may have in a row; 0 means 10.
	Burst int
	// Interval is the time in which a source regains one attempt; 0 means
	// 6 seconds (10 failures a minute in the long run).
	Interval time.Duration
	// MaxSources bounds the number of sources tracked; 0 means 65536. When
	// it is reached, sources that have regained all their attempts are
	// forgotten first, then arbitrary ones (an eighth of them at a time).
	MaxSources int
	// Status is the response to a limited source: 403 Forbidden (the
	// default) or 503 Service Unavailable. Both carry Retry-After
	// (RFC 3261 §20.33). SIP has no "429 Too Many Requests": 429 is
	// Provide Referrer Identity (RFC 3892).
	Status sip.StatusCode
}

func (r *RateLimit) burst() float64 {
	if r.Burst > 0 {
		return float64(r.Burst)
	}
	return 10
}

func (r *RateLimit) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return 6 * time.Second
}

func (r *RateLimit) maxSources() int {
	if r.MaxSources > 0 {
		return r.MaxSources
	}
	return 65536
}

func (r *RateLimit) status() sip.StatusCode {
	if r.Status != 0 {
		return r.Status
	}
	return sip.StatusForbidden
}

// limiter holds the buckets of a RateLimit.
type limiter struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// level returns the tokens of b at now.
func (b *bucket) level(cfg *RateLimit, now time.Time) float64 {
	t := b.tokens + float64(now.Sub(b.at))/float64(cfg.interval())
	return min(t, cfg.burst())
}

// allowed reports whether src may try to authenticate at now and, if not,
// after how long it may.
func (l *limiter) allowed(cfg *RateLimit, src netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[src]
	if !ok {
		return true, 0
	}
	t := b.level(cfg, now)
	if t >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - t) * float64(cfg.interval()))
}

// fail takes one token from src's bucket.
func (l *limiter) fail(cfg *RateLimit, src netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make(map[netip.Addr]*bucket)
	}
	b, ok := l.buckets[src]
	if !ok {
		if len(l.buckets) >= cfg.maxSources() {
			l.evict(cfg, now)
		}
		b = &bucket{tokens: cfg.burst(), at: now}
		l.buckets[src] = b
	}
	b.tokens = max(b.level(cfg, now)-1, 0)
	b.at = now
}

// evict makes room: it drops every full bucket (a source with all its
// attempts is the same as an unknown one) and, if that frees less than an
// eighth of the map, arbitrary buckets up to that much, so that the cost of
// the scan is shared by the insertions that follow.
func (l *limiter) evict(cfg *RateLimit, now time.Time) {
	full := cfg.burst()
	n := len(l.buckets)
	for k, b := range l.buckets {
		if b.level(cfg, now) >= full {
			delete(l.buckets, k)
		}
	}
	want := max(n/8, 1)
	for k := range l.buckets {
		if n-len(l.buckets) >= want {
			break
		}
		delete(l.buckets, k)
	}
}

func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
