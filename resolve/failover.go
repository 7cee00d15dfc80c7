package resolve

import (
	"net/netip"
	"sync"

	"github.com/parleysip/parley/transport"
)

// Failover hands out the targets of one request in order and skips those
// that failed (RFC 3263 §4.3).
//
// A request is sent to the first target; if the transaction layer reports a
// transport error, a 503 response, or a timeout without any response (timer
// B or F), the caller marks the target with Fail and sends a new request
// (same request, new Via branch) to the next target Next returns. A failed
// (transport, address) pair is blacklisted for the rest of the request: it
// is skipped even if it appears again, for example in targets added later
// with Add after a redirect.
//
// Failover is safe for concurrent use. The zero value has no targets.
type Failover struct {
	mu      sync.Mutex
	targets []Target
	next    int
	failed  map[failKey]bool
}

type failKey struct {
	n transport.Network
	a netip.AddrPort
}

// NewFailover returns a Failover over targets, in the order given (as
// returned by Lookup or LookupResponse).
func NewFailover(targets []Target) *Failover {
	f := &Failover{}
	f.Add(targets...)
	return f
}

// Add appends targets to the end of the list.
func (f *Failover) Add(targets ...Target) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = append(f.targets, targets...)
}

// Next returns the next target that has not been returned before and is not
// blacklisted, and false when there is none left.
func (f *Failover) Next() (Target, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.next < len(f.targets) {
		t := f.targets[f.next]
		f.next++
		if !f.failed[failKey{t.Network, t.Addr}] {
			return t, true
		}
	}
	return Target{}, false
}

// Fail blacklists t's transport and address for the rest of the request.
// It may be called for a target not yet returned by Next, which then skips
// it.
func (f *Failover) Fail(t Target) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil {
		f.failed = make(map[failKey]bool)
	}
	f.failed[failKey{t.Network, t.Addr}] = true
}

// Failed reports whether t has been blacklisted with Fail.
func (f *Failover) Failed(t Target) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[failKey{t.Network, t.Addr}]
}

// Remaining returns how many targets Next may still return.
func (f *Failover) Remaining() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.targets[f.next:] {
		if !f.failed[failKey{t.Network, t.Addr}] {
			n++
		}
	}
	return n
}
