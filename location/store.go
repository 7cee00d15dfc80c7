package location

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store keeps the records of a location service. Implementations are safe
// for concurrent use.
type Store interface {
	// Get returns the record of aor with its live bindings only. A record
	// that does not exist, or whose bindings have all expired, is returned
	// with no bindings and a nil error.
	Get(ctx context.Context, aor string) (Record, error)

	// Update reads the record of aor, calls fn with a copy holding only the
	// live bindings, and, when fn returns nil, stores what fn left in it:
	// an atomic read-modify-write of one AoR. Bindings that fn leaves
	// expired are dropped; a record left with no bindings is deleted.
	// Update returns the record as stored. An error from fn is returned
	// as is and nothing is written.
	//
	// fn must not call the store. It may be called more than once (Redis
	// retries it when another writer wins the race; Bolt when a group
	// commit fails), so it must depend only on the record it is given.
	Update(ctx context.Context, aor string, fn func(*Record) error) (Record, error)

	// Delete removes every binding of aor, emitting Removed for each.
	Delete(ctx context.Context, aor string) error

	// Range calls fn for every record that has live bindings, in no
	// particular order, until fn returns false. fn may call the store;
	// records written during Range may or may not be visited.
	Range(ctx context.Context, fn func(Record) bool) error

	// Expire removes the bindings that have expired at now, emitting
	// Expired for each, and returns how many it removed.
	Expire(ctx context.Context, now time.Time) (int, error)

	// Watch returns a channel that receives every change made from now on
	// (for Redis, by any node), until ctx ends or the store is closed; then
	// the channel is closed. Changes of one record arrive in the order of
	// their Version with Memory; Bolt (two transactions committed back to
	// back) and Redis (a node's own changes are delivered directly, the
	// others' through Redis) may swap two close ones, so a consumer that
	// must not go back in time ignores a change older than the last one it
	// saw for the AoR. Watch never blocks the store: when the channel's
	// buffer (of size buffer, at least 1) is full, changes are dropped and
	// the next delivered one counts them in Lost.
	Watch(ctx context.Context, buffer int) <-chan Change

	// Close releases the store. Changes stop and watch channels close.
	Close() error
}

// ErrClosed is returned by the methods of a closed store.
var ErrClosed = errors.New("location: store closed")

// ChangeKind says what happened to a binding.
type ChangeKind uint8

// The kinds of change.
const (
	// Created: a binding that did not exist was stored.
	Created ChangeKind = iota + 1
	// Refreshed: an existing binding was written with a different field
	// (usually a new expiry, Call-ID or CSeq).
	Refreshed
	// Expired: a binding was removed because its expiry passed, by a sweep
	// or by the next update of its record.
	Expired
	// Removed: a live binding was removed (expires=0, Contact: *, Delete).
	Removed
)

var kindNames = [...]string{"", "created", "refreshed", "expired", "removed"}

// String returns "created", "refreshed", "expired" or "removed".
func (k ChangeKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "unknown"
}

// Change is one event of a store's change stream.
type Change struct {
	// Kind says what happened.
	Kind ChangeKind
	// AoR is the address-of-record of the record that changed.
	AoR string
	// Binding is the binding as stored (Created, Refreshed) or as it was
	// before it went away (Expired, Removed).
	Binding Binding
	// Version is the record's version after the write.
	Version uint64
	// Lost counts the changes this watcher missed just before this one
	// because its buffer was full.
	Lost int
}

// diff returns the changes that turn the stored bindings old into new at
// now. Bindings of old missing from new are Expired when their expiry has
// passed at now, else Removed.
func diff(aor string, old, new []Binding, now time.Time, version uint64) []Change {
	var out []Change
	matched := make([]bool, len(old))
	for i := range new {
		n := &new[i]
		found := false
		for j := range old {
			if !matched[j] && old[j].Same(n) {
				matched[j], found = true, true
				if !old[j].equal(n) {
					out = append(out, Change{Kind: Refreshed, AoR: aor, Binding: n.clone(), Version: version})
				}
				break
			}
		}
		if !found {
			out = append(out, Change{Kind: Created, AoR: aor, Binding: n.clone(), Version: version})
		}
	}
	for j := range old {
		if matched[j] {
			continue
		}
		k := Removed
		if !old[j].Live(now) {
			k = Expired
		}
		out = append(out, Change{Kind: k, AoR: aor, Binding: old[j].clone(), Version: version})
	}
	return out
}

// apply runs fn on the live bindings of stored and returns the bindings to
// store, the record to return and the changes. write is false when nothing
// changed. It is the common core of every store's Update.
func apply(aor string, stored []Binding, version uint64, now time.Time, fn func(*Record) error) (next []Binding, rec Record, changes []Change, write bool, err error) {
	rec = Record{AoR: aor, Bindings: live(stored, now), Version: version}
	if err := fn(&rec); err != nil {
		return nil, Record{}, nil, false, err
	}
	for i := range rec.Bindings {
		b := rec.Bindings[i]
		if b.Updated.IsZero() {
			b.Updated = now
		}
		if b.Live(now) {
			next = append(next, b.compact(aor))
		}
	}
	changes = diff(aor, stored, next, now, version+1)
	if len(changes) == 0 {
		return stored, Record{AoR: aor, Bindings: live(stored, now), Version: version}, nil, false, nil
	}
	rec = Record{AoR: aor, Bindings: live(next, now), Version: version + 1}
	for i := range changes {
		changes[i].Version = version + 1
	}
	return next, rec, changes, true, nil
}

// hub fans changes out to watchers without blocking.
type hub struct {
	mu     sync.Mutex
	closed bool
	subs   map[*watcher]struct{}
}

type watcher struct {
	ch   chan Change
	lost int
}

func (h *hub) watch(ctx context.Context, buffer int) <-chan Change {
	if buffer < 1 {
		buffer = 1
	}
	w := &watcher{ch: make(chan Change, buffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(w.ch)
		return w.ch
	}
	if h.subs == nil {
		h.subs = make(map[*watcher]struct{})
	}
	h.subs[w] = struct{}{}
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[w]; ok {
			delete(h.subs, w)
			close(w.ch)
		}
	})
	return w.ch
}

func (h *hub) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		for _, c := range changes {
			c.Lost = w.lost
			if len(c.Binding.Path) > 0 && len(h.subs) > 1 {
				c.Binding = c.Binding.clone()
			}
			select {
			case w.ch <- c:
				w.lost = 0
			default:
				w.lost++
			}
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for w := range h.subs {
		close(w.ch)
	}
	h.subs = nil
}

func countExpired(changes []Change) int {
	n := 0
	for _, c := range changes {
		if c.Kind == Expired {
			n++
		}
	}
	return n
}
