package location

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures a [Memory] store. The zero value works.
type MemoryOptions struct {
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

const memShards = 64

// Memory is a [Store] held in memory: records in maps split into shards,
// each behind its own mutex, so that updates of different AoRs rarely
// contend. Lookup by AoR is one map access.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memShards]memShard
	hub    hub
	closed atomic.Bool
}

type memShard struct {
	mu sync.RWMutex
	m  map[string]memRecord
}

type memRecord struct {
	version  uint64
	bindings []Binding
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory(opts MemoryOptions) *Memory {
	s := &Memory{now: opts.Now, seed: maphash.MakeSeed()}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]memRecord)
	}
	return s
}

func (s *Memory) shard(aor string) *memShard {
	return &s.shards[maphash.String(s.seed, aor)%memShards]
}

// Get implements [Store.Get].
func (s *Memory) Get(ctx context.Context, aor string) (Record, error) {
	if s.closed.Load() {
		return Record{}, ErrClosed
	}
	sh := s.shard(aor)
	sh.mu.RLock()
	r := sh.m[aor]
	rec := Record{AoR: aor, Bindings: live(r.bindings, s.now()), Version: r.version}
	sh.mu.RUnlock()
	return rec, nil
}

// Update implements [Store.Update]. fn runs with the AoR's shard locked.
func (s *Memory) Update(ctx context.Context, aor string, fn func(*Record) error) (Record, error) {
	return s.update(aor, s.now(), fn)
}

func (s *Memory) update(aor string, now time.Time, fn func(*Record) error) (Record, error) {
	if s.closed.Load() {
		return Record{}, ErrClosed
	}
	sh := s.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old, ok := sh.m[aor]
	if !ok {
		aor = strings.Clone(aor) // the key must not pin the caller's buffer
	}
	next, rec, changes, write, err := apply(aor, old.bindings, old.version, now, fn)
	if err != nil || !write {
		return rec, err
	}
	if len(next) == 0 {
		delete(sh.m, aor)
	} else {
		sh.m[aor] = memRecord{version: rec.Version, bindings: next}
	}
	s.hub.publish(changes) // under the lock: changes of one AoR stay in order
	return rec, nil
}

// Delete implements [Store.Delete].
func (s *Memory) Delete(ctx context.Context, aor string) error {
	_, err := s.Update(ctx, aor, func(r *Record) error { r.Bindings = nil; return nil })
	return err
}

// Range implements [Store.Range]. Each shard is copied before fn runs, so
// fn may call the store.
func (s *Memory) Range(ctx context.Context, fn func(Record) bool) error {
	now := s.now()
	for i := range s.shards {
		if s.closed.Load() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		recs := make([]Record, 0, len(sh.m))
		for aor, r := range sh.m {
			if bs := live(r.bindings, now); len(bs) > 0 {
				recs = append(recs, Record{AoR: aor, Bindings: bs, Version: r.version})
			}
		}
		sh.mu.RUnlock()
		for _, r := range recs {
			if !fn(r) {
				return nil
			}
		}
	}
	return nil
}

// Expire implements [Store.Expire].
func (s *Memory) Expire(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for i := range s.shards {
		if s.closed.Load() {
			return n, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		sh := &s.shards[i]
		sh.mu.Lock()
		for aor, r := range sh.m {
			if allLive(r.bindings, now) {
				continue
			}
			next := live(r.bindings, now)
			changes := diff(aor, r.bindings, next, now, r.version+1)
			n += len(changes)
			if len(next) == 0 {
				delete(sh.m, aor)
			} else {
				sh.m[aor] = memRecord{version: r.version + 1, bindings: next}
			}
			s.hub.publish(changes)
		}
		sh.mu.Unlock()
	}
	return n, nil
}

func allLive(bs []Binding, now time.Time) bool {
	for i := range bs {
		if !bs[i].Live(now) {
			return false
		}
	}
	return true
}

// Watch implements [Store.Watch].
func (s *Memory) Watch(ctx context.Context, buffer int) <-chan Change {
	return s.hub.watch(ctx, buffer)
}

// Len returns the number of records (AoRs) held, expired ones included
// until they are swept.
func (s *Memory) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Close implements [Store.Close].
func (s *Memory) Close() error {
	s.closed.Store(true)
	s.hub.close()
	return nil
}
