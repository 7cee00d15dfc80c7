package transaction

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// Transport is what the transaction layer needs from the transport layer
// (RFC 3261 §18); *transport.Layer implements it.
//
// Neither method may call [Layer.HandleIncoming] before returning: a
// transaction holds its lock while it sends, and messages received are
// delivered from the transport's own goroutines.
type Transport interface {
	// SendRequest sends req to d and returns the flow it went out on,
	// whose network tells whether it is reliable (a UDP request may have
	// gone over TCP for its size, §18.1.1). It may change the top Via's
	// transport and sent-by, and is called again with the same req for
	// retransmissions.
	SendRequest(ctx context.Context, req *sip.Request, d transport.Dest) (transport.Flow, error)
	// SendResponse sends res back along in, the flow the request
	// arrived on (§18.2.2). It must not change res.
	SendResponse(ctx context.Context, res *sip.Response, in transport.Flow) error
}

// ResponseKeeper is an optional interface of a [Transport] (a
// *transport.Layer has it). With it, a non-INVITE server transaction on an
// unreliable transport keeps the bytes of its final response rather than
// the *sip.Response while it waits out Timer J in Completed (§17.2.2: it
// only sends that response again for each retransmitted request), which
// makes it much smaller for those 64*T1.
type ResponseKeeper interface {
	// SendResponseKeep is SendResponse that also returns a copy of the
	// bytes sent over an unreliable flow and the flow they left on; b is
	// nil when there is nothing to keep (a reliable flow).
	SendResponseKeep(ctx context.Context, res *sip.Response, in transport.Flow) (b []byte, sent transport.Flow, err error)
	// Resend sends b, returned by SendResponseKeep, again on sent.
	Resend(ctx context.Context, b []byte, sent transport.Flow) error
}

// Config configures a [Layer]. The zero value works: RFC default timers,
// no TU (incoming requests are dropped, as for a Layer used only to send
// requests), CANCELs answered by [AnswerCancel], no tracing.
//
// The callbacks are called on the goroutine that called
// [Layer.HandleIncoming], never with a lock held; they may call any method
// of the Layer and its transactions. They should return quickly (start a
// goroutine for long work), since the transport waits for them.
type Config struct {
	// Timers are the base timers T1, T2 and T4; zero fields mean the RFC
	// defaults.
	Timers Timers

	// OnRequest is given each new request other than ACK and CANCEL,
	// with the server transaction created for it (RFC 3261 §17.2,
	// RFC 6026 §8.10: "If no match is found, the request is passed to
	// the core, which may decide to construct a new server transaction
	// for that request"). The TU must answer it with a final response
	// through tx.Respond. Retransmissions are absorbed by tx and never
	// reach OnRequest. If nil, new requests are dropped.
	OnRequest func(tx *ServerTx, req *sip.Request)

	// OnAck is given every ACK that is not absorbed by a server
	// transaction: an ACK for a 2xx response (RFC 6026 §8.7: "If an ACK
	// is received while the INVITE server transaction is in the
	// 'Accepted' state, then the ACK must be passed up to the TU"; most
	// such ACKs, carrying a new branch, match no transaction at all),
	// and any stray ACK. A UA core matches it to its dialog; a proxy
	// forwards it (§16.7). If nil, such ACKs are dropped.
	OnAck func(ack *sip.Request, flow transport.Flow)

	// OnCancel is given each new CANCEL with its own (non-INVITE) server
	// transaction and target, the transaction it cancels — found by the
	// matching rules of §17.2.3 with the method ignored (§9.2) — or nil
	// when there is none. The TU answers the CANCEL (481 without target,
	// else 200) and, if it wants, the INVITE (487); [AnswerCancel] does
	// that and is the default.
	OnCancel func(cancel, target *ServerTx)

	// OnStrayResponse is given each response that matches no client
	// transaction (§17.1.3, §18.1.2). RFC 6026 §8.2 and §8.9: a
	// transaction-stateful element "MUST NOT forward" it and otherwise
	// discards it; only a stateless proxy forwards it (§16.11). If nil,
	// stray responses are dropped.
	OnStrayResponse func(res *sip.Response, flow transport.Flow)

	// Tracer, if set, is told of every state change, timer that fired,
	// retransmission, absorbed retransmission, dropped response and
	// transport error, in order per transaction. It is called with the
	// transaction's lock held: it must return quickly and must not call
	// methods of the Layer or of its transactions. Nil costs nothing.
	Tracer func(Event)
}

// Layer is the transaction layer of RFC 3261 §17: it matches incoming
// messages to transactions, creates server transactions for new requests,
// runs client transactions for the TU, and owns their timers. Create one
// with [NewLayer] and give its [Layer.HandleIncoming] to the transport as
// its handler.
//
// A Layer is safe for concurrent use. Each transaction has its own mutex;
// the Layer's mutex guards only its tables, and its clock's mutex the
// timers of all its transactions (see clock).
type Layer struct {
	t      Transport
	cfg    Config
	timers Timers
	tracer func(Event)
	epoch  time.Time
	ctx    context.Context // for sends the Layer makes itself; ends at Close
	cancel context.CancelFunc
	clk    clock // the timers of all transactions

	mu      sync.Mutex
	seed    maphash.Seed // of the hashed tables
	clients hashed[Key, *ClientTx]
	servers hashed[srvKey, *ServerTx]   // RFC 3261 requests; chained by next
	legacy  table[legacyKey, *ServerTx] // RFC 2543 requests; chained by next
	merged  hashed[mergeKey, *ServerTx] // §8.2.2.2 index of out-of-dialog requests
	live    int
	closing bool
	idle    chan struct{} // closed when live reaches 0 while closing
}

// maxChain bounds how many server transactions may share one match key.
// Legitimately there are two (a request and its CANCEL); anything more
// comes from a peer reusing branches, whose extra requests are dropped.
const maxChain = 4

// NewLayer returns a Layer that sends through t, which must not be nil.
func NewLayer(t Transport, cfg Config) *Layer {
	l := &Layer{
		t:      t,
		cfg:    cfg,
		timers: cfg.Timers.norm(),
		tracer: cfg.Tracer,
		epoch:  time.Now(),
		idle:   make(chan struct{}),
		seed:   maphash.MakeSeed(),
	}
	l.clk.epoch = l.epoch
	l.clk.scheduled = -1
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// Timers returns the Layer's timers, defaults filled in.
func (l *Layer) Timers() Timers { return l.timers }

// Len returns the number of transactions, client and server, that have
// not terminated.
func (l *Layer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

// Request starts a client transaction that sends req to d (RFC 3261
// §17.1) and returns it once the request has been passed to the
// transport; ctx bounds only that first send (a connection may be
// dialled). The transaction then lives by its timers: read its responses
// from [ClientTx.Responses] until the channel is closed, then check
// [ClientTx.Err].
//
// req must carry a top Via whose branch starts with the magic cookie
// (§8.1.1.7) and a CSeq whose method is req.Method; it must not be an
// ACK, which has no client transaction (§17.1: the TU "passes one
// directly to the transport layer"). The transaction owns req from now
// on: do not change or read it; use [ClientTx.Request] for a copy.
//
// An INVITE runs the machine of §17.1.1 and RFC 6026; any other method
// that of §17.1.2. Cancelling an INVITE (§9.1) is the TU's job: build the
// CANCEL from [ClientTx.Request] and send it with another Request to
// [ClientTx.Dest].
//
// If the transport fails, Request returns an [*Error] with Kind
// ErrTransport (§8.1.3.1: treat as 503).
func (l *Layer) Request(ctx context.Context, req *sip.Request, d transport.Dest) (*ClientTx, error) {
	if req == nil || req.Method == sip.ACK {
		return nil, ErrBadRequest
	}
	v := req.TopVia()
	cs, ok := req.CSeq()
	if v == nil || !v.RFC3261Branch() || !ok || cs.Method != req.Method {
		return nil, ErrBadRequest
	}
	key := Key{Method: req.Method, Branch: v.Branch()}
	tx := newClientTx(l, key, req, d)
	h := l.hashClient(&key)

	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	old, taken := l.clients.lookup(h, key, clientKeyOf)
	if old != nil {
		l.mu.Unlock()
		return nil, ErrExists
	}
	l.clients.add(h, key, tx, taken)
	tx.inserted, tx.h = true, h
	l.live++
	l.mu.Unlock()

	tx.mu.Lock()
	r := tx.dispatch(ctx, tuRequest{})
	if r.stale { // closed before it could start
		r.err = tx.err
	}
	tx.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	return tx, nil
}

// HandleIncoming takes a message from the transport: it is the transport
// layer's Handler. A response goes to its client transaction (§17.1.3) or
// to [Config.OnStrayResponse]; a request to its server transaction
// (§17.2.3), to a new server transaction given to [Config.OnRequest] or
// [Config.OnCancel], or, for an ACK that no transaction absorbs, to
// [Config.OnAck]. Messages without a top Via or a CSeq are dropped.
func (l *Layer) HandleIncoming(in transport.Incoming) {
	switch m := in.Message.(type) {
	case *sip.Response:
		l.handleResponse(m, in.Flow)
	case *sip.Request:
		l.handleRequest(m, in.Flow)
	}
}

func (l *Layer) handleResponse(res *sip.Response, flow transport.Flow) {
	v := res.TopVia()
	cs, ok := res.CSeq()
	if v == nil || !ok {
		return
	}
	// §17.1.3: "1. If the response has the same value of the branch
	// parameter in the top Via header field as the branch parameter in
	// the top Via header field of the request that created the
	// transaction. 2. If the method parameter in the CSeq header field
	// matches the method of the request that created the transaction."
	key := Key{Method: cs.Method, Branch: v.Branch()}
	h := l.hashClient(&key)
	l.mu.Lock()
	tx := l.clients.get(h, key, clientKeyOf)
	l.mu.Unlock()
	if tx != nil {
		tx.mu.Lock()
		r := tx.dispatch(l.ctx, recvResponse{res})
		tx.mu.Unlock()
		if !r.stale {
			return
		}
	}
	// RFC 6026 §8.9: "If there is a match, the response MUST be passed to
	// that transaction. Otherwise, any element other than a stateless
	// proxy MUST silently discard the response."
	if f := l.cfg.OnStrayResponse; f != nil {
		f(res, flow)
	}
}

func (l *Layer) handleRequest(req *sip.Request, flow transport.Flow) {
	m, ok := matchFor(req)
	if !ok {
		return
	}
	if req.Method == sip.ACK {
		l.handleAck(req, flow, &m)
		return
	}
	// A request that matches a transaction is a retransmission (§17.2.3).
	// A match that has just terminated (it leaves the table right after)
	// counts as none; at most one retry. On no match, the new transaction
	// is made and inserted in the same hold of l.mu, so that of two copies
	// of a request arriving at once exactly one makes it.
	l.mu.Lock()
	var c chainAt
	for range 2 {
		c = l.lookupChain(&m)
		old := find(c.head, &m)
		if old == nil {
			break
		}
		l.mu.Unlock()
		old.mu.Lock()
		r := old.dispatch(l.ctx, recvRequest{req})
		old.mu.Unlock()
		if !r.stale {
			return
		}
		l.mu.Lock()
	}
	if l.closing || (req.Method != sip.CANCEL && l.cfg.OnRequest == nil) {
		l.mu.Unlock()
		return
	}
	tx := newServerTx(l, req, flow, &m)
	if !l.insert(tx, &m, c) {
		l.mu.Unlock()
		return
	}
	var target *ServerTx
	if req.Method == sip.CANCEL {
		// §9.2: "The TU determines the transaction to be cancelled by
		// taking the CANCEL request, and then assuming that the request
		// method is anything but CANCEL or ACK and applying the
		// transaction matching procedures of Section 17.2.3."
		target = l.findCancelTarget(&m)
	}
	// Take tx.mu before tx becomes visible, so that a retransmission
	// finding it waits until it has started. Nobody else can hold it yet,
	// so taking it under l.mu cannot deadlock.
	tx.mu.Lock()
	l.mu.Unlock()
	tx.trace(EventState, StateNone, tx.state, TimerNone, nil, nil)
	tx.armTrying()
	tx.mu.Unlock()

	if req.Method == sip.CANCEL {
		if f := l.cfg.OnCancel; f != nil {
			f(tx, target)
		} else {
			_ = AnswerCancel(l.ctx, tx, target)
		}
		return
	}
	l.cfg.OnRequest(tx, req)
}

// handleAck matches an ACK to an INVITE server transaction: absorbed in
// Completed and Confirmed, passed to the TU in Accepted (RFC 6026) or when
// nothing matches.
func (l *Layer) handleAck(req *sip.Request, flow transport.Flow, m *match) {
	l.mu.Lock()
	tx := l.findAck(m)
	l.mu.Unlock()
	if tx != nil {
		tx.mu.Lock()
		r := tx.dispatch(l.ctx, recvAck{req})
		tx.mu.Unlock()
		if !r.up && !r.stale {
			return
		}
	}
	if f := l.cfg.OnAck; f != nil {
		f(req, flow)
	}
}

// chain returns the first server transaction with m's match key. Caller
// holds l.mu.
func (l *Layer) chain(m *match) *ServerTx {
	if m.rfc3261 {
		return l.servers.get(l.hashSrv(&m.sk), m.sk, srvKeyOf)
	}
	return l.legacy.m[m.lk]
}

// chainAt is where a request's chain of server transactions is, or would
// go, in the Layer's tables: what lookupChain found.
type chainAt struct {
	head  *ServerTx
	h     uint64 // hash of the srvKey (RFC 3261 requests)
	taken bool   // h is in l.servers.m (see hashed.lookup)
}

// lookupChain is chain, keeping the hash and the table's answer for an
// insert made under the same hold of l.mu. Caller holds l.mu.
func (l *Layer) lookupChain(m *match) chainAt {
	if m.rfc3261 {
		h := l.hashSrv(&m.sk)
		head, taken := l.servers.lookup(h, m.sk, srvKeyOf)
		return chainAt{head: head, h: h, taken: taken}
	}
	return chainAt{head: l.legacy.m[m.lk]}
}

// find returns the server transaction of the chain from head that a
// non-ACK request m matches (§17.2.3).
func find(head *ServerTx, m *match) *ServerTx {
	for tx := head; tx != nil; tx = tx.next {
		// "3. the method of the request matches the one that created the
		// transaction". RFC 2543: "the Request-URI, To tag, From tag,
		// Call-ID, CSeq, and top Via header field match".
		if tx.key.Method == m.method && (m.rfc3261 || tx.lg.toTag == m.toTag) {
			return tx
		}
	}
	return nil
}

// findAck returns the INVITE server transaction an ACK matches. Caller
// holds l.mu.
func (l *Layer) findAck(m *match) *ServerTx {
	for tx := l.chain(m); tx != nil; tx = tx.next {
		if tx.key.Method != sip.INVITE {
			continue
		}
		// "except for ACK, where the method of the request that created
		// the transaction is INVITE". RFC 2543: "the To tag of the ACK
		// matches the To tag of the response sent by the server
		// transaction".
		if m.rfc3261 || m.toTag == tx.lg.respToTag || (tx.lg.toTag != "" && m.toTag == tx.lg.toTag) {
			return tx
		}
	}
	return nil
}

// findCancelTarget returns the transaction a CANCEL cancels. Caller holds
// l.mu.
func (l *Layer) findCancelTarget(m *match) *ServerTx {
	for tx := l.chain(m); tx != nil; tx = tx.next {
		if tx.key.Method != sip.CANCEL && (m.rfc3261 || tx.lg.toTag == m.toTag) {
			return tx
		}
	}
	return nil
}

// insert adds a new server transaction to the tables and the §8.2.2.2
// index; it fails when too many transactions share the key. c is what
// lookupChain returned for m: the caller has held l.mu since.
func (l *Layer) insert(tx *ServerTx, m *match, c chainAt) bool {
	head := c.head
	n := 0
	for t := head; t != nil; t = t.next {
		n++
	}
	if n >= maxChain {
		return false
	}
	tx.next = head
	if head != nil {
		head.prev = tx
	}
	if m.rfc3261 {
		tx.sh = c.h
		if head == nil {
			l.servers.add(tx.sh, m.sk, tx, c.taken)
		} else {
			l.servers.set(tx.sh, m.sk, tx, srvKeyOf)
		}
	} else {
		l.legacy.put(m.lk, tx)
	}
	tx.inserted = true
	if mk, ok := mergeKeyFor(tx.req.Load()); ok {
		// §8.2.2.2: "If the From tag, Call-ID, and CSeq exactly match
		// those associated with an ongoing transaction, but the request
		// does not match that transaction (based on the matching rules in
		// Section 17.2.3), the UAS core SHOULD generate a 482".
		h := l.hashMerge(&mk)
		if owner, taken := l.merged.lookup(h, mk, mergeKeyOf); owner != nil {
			tx.merged = true
		} else {
			tx.mk, tx.mh, tx.mergeOwner = mk, h, true
			l.merged.add(h, mk, tx, taken)
		}
	}
	l.live++
	return true
}

// Merged reports whether req, a request received from the network, looks
// merged (§8.2.2.2): it has no To tag and its From tag, Call-ID and CSeq
// equal those of a running server transaction that it does not match —
// "The same request has arrived at the UAS more than once, following
// different paths, most likely due to forking." The same verdict is given
// for the request of a new transaction by [ServerTx.Merged].
func (l *Layer) Merged(req *sip.Request) bool {
	mk, ok := mergeKeyFor(req)
	if !ok {
		return false
	}
	m, ok := matchFor(req)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	owner := l.merged.get(l.hashMerge(&mk), mk, mergeKeyOf)
	if owner == nil {
		return false
	}
	if m.rfc3261 {
		return owner.lg != nil || owner.srvKey() != m.sk || owner.key.Method != m.method
	}
	return owner.lg == nil || owner.lg.key != m.lk || owner.lg.toTag != m.toTag || owner.key.Method != m.method
}

// setRespToTag records the To tag of an RFC 2543 transaction's response,
// which its ACK carries. Called with tx.mu held (lock order: tx, then
// Layer).
func (l *Layer) setRespToTag(tx *ServerTx, tag string) {
	l.mu.Lock()
	tx.lg.respToTag = tag
	l.mu.Unlock()
}

// removeClient drops a terminated client transaction. Called with tx.mu
// held.
func (l *Layer) removeClient(tx *ClientTx) {
	l.mu.Lock()
	if tx.inserted {
		// Keys are unique (Request refuses a duplicate): the entry is tx.
		l.clients.del(tx.h, tx.key, clientKeyOf)
		tx.inserted = false
	}
	l.done1()
	l.mu.Unlock()
}

// removeServer drops a terminated server transaction. Called with tx.mu
// held, often on a timer's fresh goroutine: it keeps a small stack frame
// (the rare cases are in unchain) so that such a goroutine need not grow
// its stack.
func (l *Layer) removeServer(tx *ServerTx) {
	l.mu.Lock()
	if tx.inserted {
		tx.inserted = false
		if tx.prev == nil && tx.next == nil && tx.lg == nil {
			l.servers.del(tx.sh, tx.srvKey(), srvKeyOf) // alone under its key: the usual case
		} else {
			l.unchain(tx)
		}
		if tx.mergeOwner {
			l.unmerge(tx)
		}
		l.done1()
	}
	l.mu.Unlock()
}

// unmerge removes tx's entry from the §8.2.2.2 index. The entry is tx's:
// it is set only when absent and removed only by its owner. (The key is
// kept, as the request may be gone.) Caller holds l.mu.
//
//go:noinline
func (l *Layer) unmerge(tx *ServerTx) {
	l.merged.del(tx.mh, tx.mk, mergeKeyOf)
	tx.mk, tx.mergeOwner = mergeKey{}, false
}

// unchain takes tx out of its chain of transactions sharing a match key,
// or out of the RFC 2543 table. Caller holds l.mu.
//
//go:noinline
func (l *Layer) unchain(tx *ServerTx) {
	switch {
	case tx.prev != nil:
		tx.prev.next = tx.next
		if tx.next != nil {
			tx.next.prev = tx.prev
		}
	case tx.next != nil: // head of a chain
		tx.next.prev = nil
		if tx.lg == nil {
			l.servers.set(tx.sh, tx.srvKey(), tx.next, srvKeyOf)
		} else {
			l.legacy.m[tx.lg.key] = tx.next
		}
	default: // alone
		l.legacy.del(tx.lg.key)
	}
	tx.next, tx.prev = nil, nil
}

// done1 counts one transaction gone. Caller holds l.mu.
func (l *Layer) done1() {
	l.live--
	if l.closing && l.live == 0 {
		select {
		case <-l.idle:
		default:
			close(l.idle)
		}
	}
}

// Shutdown stops the Layer gracefully: new requests are dropped and
// [Layer.Request] fails with ErrClosed, while running transactions go on
// until they terminate by themselves (absorbing retransmissions,
// delivering responses). When none is left, or when ctx ends, Shutdown
// calls [Layer.Close] and returns (ctx.Err() in the latter case).
func (l *Layer) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.closing = true
	if l.live == 0 {
		select {
		case <-l.idle:
		default:
			close(l.idle)
		}
	}
	l.mu.Unlock()
	select {
	case <-l.idle:
		l.Close()
		return nil
	case <-ctx.Done():
		l.Close()
		return ctx.Err()
	}
}

// Close terminates every transaction at once with ErrClosed, stopping its
// timer, and makes the Layer refuse new transactions. Timer callbacks that
// were already starting find their transaction terminated and return at
// once. Close is idempotent.
func (l *Layer) Close() {
	l.mu.Lock()
	l.closing = true
	txs := make([]*core, 0, l.live)
	l.clients.all(func(tx *ClientTx) { txs = append(txs, &tx.core) })
	l.servers.all(func(head *ServerTx) {
		for tx := head; tx != nil; tx = tx.next {
			txs = append(txs, &tx.core)
		}
	})
	for _, head := range l.legacy.m {
		for tx := head; tx != nil; tx = tx.next {
			txs = append(txs, &tx.core)
		}
	}
	l.mu.Unlock()
	for _, c := range txs {
		c.mu.Lock()
		c.terminate(&Error{Kind: ErrClosed, Key: c.key})
		c.mu.Unlock()
	}
	l.clk.close()
	l.cancel()
}

// table is a map that gives its memory back: Go maps never shrink, and
// their capacity also creeps up under insert/delete churn, so a table that
// empties after having held more than shrinkAbove entries starts afresh.
// After a burst of transactions, the Layer returns to its former size.
type table[K comparable, V any] struct {
	m    map[K]V
	peak int
}

const shrinkAbove = 1024

func (t *table[K, V]) put(k K, v V) {
	if t.m == nil {
		t.m = make(map[K]V)
	}
	t.m[k] = v
	t.peak = max(t.peak, len(t.m))
}

func (t *table[K, V]) del(k K) {
	delete(t.m, k)
	if len(t.m) == 0 && t.peak > shrinkAbove {
		t.m = nil
		t.peak = 0
	}
}
