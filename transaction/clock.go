package transaction

import (
	"sync"
	"time"
)

// clock runs the timers of all the transactions of a Layer on one
// *time.Timer.
//
// Every timer a transaction arms has a duration taken from a small set
// (Table 4: T1 and its doublings up to T2 or 64·T1, T4, 64·T1, 32 s, and
// the delays of 100 Trying), and its deadline is "now + duration". So the
// clock keeps one FIFO queue per duration: deadlines pushed onto one queue
// come in the order they fall due, and pushing, popping and finding the
// earliest deadline of a Layer cost O(1) per queue, with no allocation per
// transaction (the queues are lists of blocks of pointer-free entries,
// which the garbage collector does not scan). The *time.Timer is set to the earliest
// head of all queues; when it fires, one goroutine runs every transaction
// whose deadline has passed, however many there are.
//
// A timer that is disarmed or re-armed, or whose transaction ends, stays
// in its queue: an entry names its transaction by a slot of the clock and
// the deadline it was pushed for, and is valid only while the slot still
// holds that deadline (slots are mirrors of the transactions' pending
// deadlines, kept under the clock's mutex). Invalid entries are dropped,
// without waking anything, when they reach the head of their queue.
//
// A transaction runs at or after the instant its timer falls due, never
// before; late only by the runtime's timer latency, or by up to coalesce
// when its deadline falls that close after the previous firing (see
// coalesce). quic-go and the runtime's own timers set a single timer to
// the earliest deadline in the same way.
//
// Lock order: a transaction's mutex, then the clock's; the clock never
// takes a transaction's mutex while holding its own.
type clock struct {
	epoch time.Time

	mu        sync.Mutex
	timer     *time.Timer   // made on first use
	scheduled time.Duration // when the timer fires, or when a running fire looks again; -1: not set
	closed    bool
	queues    []*queue
	slots     slotTable // slot 0 is unused: a core's slot 0 means none
	free      []uint32  // unused slots
	gen       uint32    // generation of the next slot handed out
}

// slot mirrors the pending deadlines of one transaction: at[i] is the
// deadline dl[i] was pushed for, or 0.
type slot struct {
	c   *core
	gen uint32
	at  [maxDeadlines]time.Duration
}

// slotChunk is how many slots are allocated at a time. Slots live in
// chunks that never move: adding one copies nothing, where a growing slice
// of them (they hold pointers) would be copied whole, with write barriers
// while the garbage collector runs, about every quarter more transactions,
// and allocate five times its final size on the way.
const slotChunk = 128

// slotTable is a clock's slots, indexed from 0.
type slotTable struct {
	chunks []*[slotChunk]slot
	n      uint32 // slots handed out: indices below n
}

// get returns slot i < len().
func (t *slotTable) get(i uint32) *slot { return &t.chunks[i/slotChunk][i%slotChunk] }

// len returns the number of slots.
func (t *slotTable) len() int { return int(t.n) }

// add appends a zero slot and returns its index.
func (t *slotTable) add() uint32 {
	if int(t.n) == len(t.chunks)*slotChunk {
		t.chunks = append(t.chunks, new([slotChunk]slot))
	}
	t.n++
	return t.n - 1
}

// entry is one pushed deadline: slot ref&slotMask, deadline index ref>>30.
type entry struct {
	ref uint32
	gen uint32
	at  time.Duration
}

const slotMask = 1<<30 - 1

// queueBlock is how many entries a block of a queue holds: a block,
// with its link, is 4,096 bytes.
const queueBlock = 255

// block is a run of queued entries. The link comes first: the garbage
// collector then scans one word of the block, the entries being
// pointer-free.
type block struct {
	next *block
	e    [queueBlock]entry
}

// queue is a FIFO of the entries of one duration: a list of blocks,
// written at the tail and read at the head. Nothing is ever copied, and a
// block read to its end is let go (one is kept to be reused), so the
// memory of a queue follows its length: a burst gives its memory back as
// its entries leave, while traffic goes on.
type queue struct {
	d          time.Duration
	head, tail *block
	hi, ti     int // next entry to read in head, next to write in tail
	size       int
	spare      *block
}

func (q *queue) front() *entry { return &q.head.e[q.hi] }

func (q *queue) back() *entry { return &q.tail.e[q.ti-1] }

func (q *queue) push(e entry) {
	if q.tail == nil || q.ti == queueBlock {
		b := q.spare
		if b != nil {
			q.spare = nil
		} else {
			b = new(block)
		}
		if q.tail == nil {
			q.head, q.hi = b, 0
		} else {
			q.tail.next = b
		}
		q.tail, q.ti = b, 0
	}
	q.tail.e[q.ti] = e
	q.ti++
	q.size++
}

func (q *queue) pop() entry {
	e := q.head.e[q.hi]
	q.hi++
	q.size--
	switch {
	case q.size == 0:
		// head == tail: start it over; an idle queue holds one block.
		q.hi, q.ti = 0, 0
		q.spare = nil
	case q.hi == queueBlock:
		b := q.head
		q.head, q.hi = b.next, 0
		b.next = nil
		q.spare = b
	}
	return e
}

// blocks returns how many blocks q holds, the spare included.
func (q *queue) blocks() int {
	n := 0
	for b := q.head; b != nil; b = b.next {
		n++
	}
	if q.spare != nil {
		n++
	}
	return n
}

// queueFor returns the queue of duration d. There are only as many as
// distinct timer durations (about 20); a linear search is fastest.
func (k *clock) queueFor(d time.Duration) *queue {
	for _, q := range k.queues {
		if q.d == d {
			return q
		}
	}
	q := &queue{d: d}
	k.queues = append(k.queues, q)
	return q
}

// now is the clock's monotonic time.
func (k *clock) now() time.Duration { return time.Since(k.epoch) }

// push queues deadline i of c to fall due d from now (d ≥ 0) and returns
// that deadline. It is never earlier than now+d; it is later only when a
// deadline of the same duration pushed just before by another goroutine
// fell due later (by the time between their two clock readings), which
// keeps each queue in order. Caller holds c.mu.
func (k *clock) push(c *core, i int, d time.Duration) time.Duration {
	k.mu.Lock()
	if c.slot == 0 {
		c.slot = k.alloc(c)
	}
	s := k.slots.get(c.slot)
	q := k.queueFor(d)
	now := k.now()
	at := now + d
	empty := q.size == 0
	if !empty {
		at = max(at, q.back().at)
	}
	at = max(at, 1) // 0 in a slot means "none"
	s.at[i] = at
	q.push(entry{ref: c.slot | uint32(i)<<30, gen: s.gen, at: at})
	// A queue that was not empty has a head no later than at, and the
	// timer is set no later than that head.
	if empty && (k.scheduled < 0 || at < k.scheduled) {
		k.set(at, now)
	}
	k.mu.Unlock()
	return at
}

// unmirror forgets deadline i of c: its entry, if queued, is now invalid.
// Caller holds c.mu.
func (k *clock) unmirror(c *core, i int) {
	k.mu.Lock()
	k.slots.get(c.slot).at[i] = 0
	k.mu.Unlock()
}

// alloc hands out a slot for c. Caller holds k.mu.
func (k *clock) alloc(c *core) uint32 {
	if k.slots.len() == 0 {
		k.slots.add() // slot 0, never handed out
	}
	var i uint32
	if n := len(k.free); n > 0 {
		i = k.free[n-1]
		k.free = k.free[:n-1]
	} else {
		if k.slots.len() > slotMask {
			panic("transaction: too many transactions with timers")
		}
		i = k.slots.add()
	}
	k.gen++
	*k.slots.get(i) = slot{c: c, gen: k.gen}
	return i
}

// release gives back c's slot when c terminates: its queued entries become
// invalid. Caller holds c.mu.
func (k *clock) release(c *core) {
	k.mu.Lock()
	*k.slots.get(c.slot) = slot{}
	k.free = append(k.free, c.slot)
	c.slot = 0
	if len(k.free) == k.slots.len()-1 && k.slots.len() > shrinkAbove {
		// All slots free after a burst: start afresh (entries still queued
		// name slots past the end, or carry an older generation).
		k.slots, k.free = slotTable{}, nil
	}
	k.mu.Unlock()
}

// valid reports whether e is still a pending deadline of its slot's
// transaction. Caller holds k.mu.
func (k *clock) valid(e *entry) *core {
	i := e.ref & slotMask
	if int(i) >= k.slots.len() {
		return nil
	}
	s := k.slots.get(i)
	if s.gen != e.gen || s.at[e.ref>>30] != e.at {
		return nil
	}
	return s.c
}

// set makes the timer fire at at. Caller holds k.mu.
func (k *clock) set(at, now time.Duration) {
	k.scheduled = at
	if k.closed {
		return
	}
	d := max(at-now, 0)
	if k.timer == nil {
		k.timer = time.AfterFunc(d, k.fire)
		return
	}
	k.timer.Reset(d)
}

// fireBatch is how many transactions one round of fire runs; it bounds
// the stack buffer and how long the clock's mutex is held.
const fireBatch = 64

// fire is the timer's callback: it runs, in rounds of at most fireBatch,
// every transaction with a deadline that has passed, then sets the timer
// to the next deadline. Transactions run on this goroutine, without the
// clock's mutex: they may arm timers.
func (k *clock) fire() {
	var buf [fireBatch]*core
	// Each round runs fireBatch transactions or ends the loop; 1<<16
	// rounds are more than four million transactions. Past that, the
	// timer runs the rest on a new goroutine.
	for range 1 << 16 {
		k.mu.Lock()
		now := k.now()
		cs := buf[:0]
		more := false
	queues:
		for _, q := range k.queues {
			for q.size > 0 {
				e := q.front()
				c := k.valid(e)
				if c == nil {
					q.pop() // invalid: drop it, due or not
					continue
				}
				if e.at > now {
					break
				}
				if len(cs) == fireBatch {
					more = true
					break queues
				}
				k.slots.get(e.ref & slotMask).at[e.ref>>30] = 0
				q.pop()
				cs = append(cs, c)
			}
		}
		if more {
			k.scheduled = now // this loop looks again
		} else {
			k.next(now, now+coalesce)
		}
		k.mu.Unlock()
		for i, c := range cs {
			c.onTimer(now)
			buf[i] = nil
		}
		if !more {
			return
		}
	}
	k.mu.Lock()
	k.set(k.now(), k.now())
	k.mu.Unlock()
}

// coalesce is how long after a firing the next one waits at least: a
// deadline that falls within it runs that much late, with the others due
// by then, on one wake-up. Under load (tens of thousands of transactions
// a second, each ending by Timer J or K) this makes one wake-up run many
// transactions instead of about two; when deadlines are further apart
// than that (a test's fake clock, a quiet server), none is late. Linux
// gives user timers a slack of 50 µs for the same reason; 1 ms is nothing
// next to the 500 ms of T1.
const coalesce = time.Millisecond

// next sets the timer to the earliest valid head of the queues, but not
// before notBefore, dropping invalid heads; or leaves it unset when no
// deadline is pending. Caller holds k.mu.
func (k *clock) next(now, notBefore time.Duration) {
	at := time.Duration(-1)
	for _, q := range k.queues {
		for q.size > 0 && k.valid(q.front()) == nil {
			q.pop()
		}
		if q.size > 0 && (at < 0 || q.front().at < at) {
			at = q.front().at
		}
	}
	if at < 0 {
		k.scheduled = -1
		return
	}
	k.set(max(at, notBefore), now)
}

// close stops the timer for good; deadlines pushed afterwards are kept
// but never fire.
func (k *clock) close() {
	k.mu.Lock()
	k.closed = true
	if k.timer != nil {
		k.timer.Stop()
	}
	k.queues = nil
	k.mu.Unlock()
}
