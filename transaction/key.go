package transaction

import (
	"hash/maphash"
	"math/bits"

	"github.com/parleysip/parley/sip"
)

// Key identifies a transaction. It is comparable; two transactions of a
// Layer never share a Key.
//
// A client transaction is matched by the branch of the top Via and the
// CSeq method (RFC 3261 §17.1.3); Host and Port are empty. A server
// transaction created by a request whose branch carries the magic cookie
// is matched by branch, sent-by and method (§17.2.3); one created by an
// RFC 2543 request (no cookie) is matched by Request-URI, tags, Call-ID,
// CSeq and top Via, which its Key summarises by the top Via's branch (if
// any) and sent-by.
type Key struct {
	// Method is the method of the request that created the transaction.
	// An ACK matches the INVITE transaction; a CANCEL has a transaction
	// of its own (§17.1.3 rule 2, §17.2.3 rule 3).
	Method sip.Method
	// Branch is the branch parameter of the top Via.
	Branch string
	// Host and Port are the top Via's sent-by (server transactions only);
	// Host is lower-cased, Port is 0 when the Via has none.
	Host string
	Port uint16
}

// String returns e.g. "z9hG4bK74bf9 INVITE" or, for a server transaction,
// "z9hG4bK74bf9 pc33.atlanta.com:5060 INVITE".
func (k Key) String() string {
	s := k.Branch
	if k.Host != "" {
		s += " " + k.Host
		if k.Port != 0 {
			s += ":" + itoa(int(k.Port))
		}
	}
	return s + " " + string(k.Method)
}

// srvKey is the map key of server transactions created by RFC 3261
// requests: branch and sent-by (§17.2.3 rules 1 and 2). Transactions that
// share it (an INVITE and its CANCEL) are chained and told apart by method
// (rule 3).
type srvKey struct {
	branch string
	host   string
	port   uint16
}

// viaKey is the part of a top Via that RFC 2543 matching compares.
type viaKey struct {
	transport string
	host      string
	port      uint16
	branch    string
}

// legacyKey is the map key of server transactions created by RFC 2543
// requests (§17.2.3, no magic cookie): "the Request-URI, To tag, From tag,
// Call-ID, CSeq, and top Via header field". The To tag and the method are
// compared along the chain, because an ACK's To tag is the one of the
// response and a CANCEL's method differs from its target's.
type legacyKey struct {
	uri     sip.URI
	callID  string
	fromTag string
	seq     uint32
	via     viaKey
}

// legacyTx is what only a server transaction created by an RFC 2543
// request needs: its table key and the To tags its matching compares.
type legacyTx struct {
	key       legacyKey
	toTag     string // the request's To tag
	respToTag string // To tag of the last response (ACK matching); owned by Layer.mu
}

// mergeKey is what §8.2.2.2 compares to find merged requests: "If the From
// tag, Call-ID, and CSeq exactly match those associated with an ongoing
// transaction, but the request does not match that transaction".
type mergeKey struct {
	fromTag string
	callID  string
	seq     uint32
	method  sip.Method
}

// match is how an incoming request is matched to server transactions.
type match struct {
	rfc3261 bool
	sk      srvKey
	lk      legacyKey // only when !rfc3261
	toTag   string    // the request's To tag
	method  sip.Method
}

// matchFor computes how req is matched; ok is false when req lacks the top
// Via or CSeq needed for any matching.
func matchFor(req *sip.Request) (m match, ok bool) {
	v := req.TopVia()
	cs, hasCSeq := req.CSeq()
	if v == nil || !hasCSeq {
		return m, false
	}
	m.method = req.Method
	m.toTag = req.ToTag()
	host := lowerASCII(v.Host)
	if v.RFC3261Branch() {
		m.rfc3261 = true
		m.sk = srvKey{branch: v.Branch(), host: host, port: v.Port}
		return m, true
	}
	m.lk = legacyKey{
		uri:    req.URI,
		callID: req.CallID(),
		seq:    cs.Seq,
		via:    viaKey{transport: upperASCII(v.Transport), host: host, port: v.Port, branch: v.Branch()},
	}
	m.lk.fromTag = req.FromTag()
	return m, true
}

// key returns the public Key of a transaction created by the matched
// request.
func (m *match) key() Key {
	if m.rfc3261 {
		return Key{Method: m.method, Branch: m.sk.branch, Host: m.sk.host, Port: m.sk.port}
	}
	return Key{Method: m.method, Branch: m.lk.via.branch, Host: m.lk.via.host, Port: m.lk.via.port}
}

// mergeKeyFor returns the §8.2.2.2 key of req and whether the check
// applies ("If the request has no tag in the To header field").
func mergeKeyFor(req *sip.Request) (mergeKey, bool) {
	cs, ok := req.CSeq()
	if !ok || !req.Has(string(sip.HeaderFrom)) || req.ToTag() != "" {
		return mergeKey{}, false
	}
	return mergeKey{fromTag: req.FromTag(), callID: req.CallID(), seq: cs.Seq, method: cs.Method}, true
}

// lowerASCII lower-cases s without allocating when it has no upper-case
// letter (host names compare case-insensitively, §19.1.4).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// upperASCII upper-cases s without allocating when it has no lower-case
// letter (transport tokens compare case-insensitively).
func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'a' <= c && c <= 'z' {
					b[j] = c - ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// hashed is a table of transactions keyed by a 64-bit hash of their key
// (hash/maphash, seeded per Layer) rather than by the key itself: a Go map
// with string keys hashes each key again, and reads its strings from
// wherever they lie in the heap, each time the map grows, which made
// growing the tables cost as much as using them. The few values whose hash
// collides with that of another value present go to an exact table, so
// lookups are exact. keyOf gives the key of a stored value.
type hashed[K comparable, V comparable] struct {
	m table[uint64, V] // one value per hash
	x table[K, V]      // values whose hash was taken when they came
}

// get returns the value with key k (hash h), or the zero V.
func (t *hashed[K, V]) get(h uint64, k K, keyOf func(V) K) V {
	v, ok := t.m.m[h]
	if ok && keyOf(v) == k {
		return v
	}
	if len(t.x.m) > 0 {
		return t.x.m[k]
	}
	var zero V
	return zero
}

// lookup is get, and also reports whether hash h is taken (by k or by a
// colliding key), for an add that follows under the same hold of the
// lock: one probe of the map where get and put make two.
func (t *hashed[K, V]) lookup(h uint64, k K, keyOf func(V) K) (v V, taken bool) {
	v, taken = t.m.m[h]
	if taken && keyOf(v) == k {
		return v, true
	}
	if len(t.x.m) > 0 {
		return t.x.m[k], taken
	}
	var zero V
	return zero, taken
}

// add adds v under k (hash h), which must not be present; taken is what
// lookup reported, the table unchanged since.
func (t *hashed[K, V]) add(h uint64, k K, v V, taken bool) {
	if taken {
		t.x.put(k, v)
		return
	}
	t.m.put(h, v)
}

// set replaces the value stored under k (hash h) by v.
func (t *hashed[K, V]) set(h uint64, k K, v V, keyOf func(V) K) {
	if old, ok := t.m.m[h]; ok && keyOf(old) == k {
		t.m.m[h] = v
		return
	}
	t.x.m[k] = v
}

// del removes the value stored under k (hash h).
func (t *hashed[K, V]) del(h uint64, k K, keyOf func(V) K) {
	if old, ok := t.m.m[h]; ok && keyOf(old) == k {
		t.m.del(h)
		return
	}
	t.x.del(k)
}

// len returns the number of values.
func (t *hashed[K, V]) len() int { return len(t.m.m) + len(t.x.m) }

// all calls f with every value.
func (t *hashed[K, V]) all(f func(V)) {
	for _, v := range t.m.m {
		f(v)
	}
	for _, v := range t.x.m {
		f(v)
	}
}

// hashClient, hashSrv and hashMerge hash the keys of the Layer's tables.
// Each string goes through maphash with the Layer's seed; the small fields
// are mixed in.
func (l *Layer) hashClient(k *Key) uint64 {
	return maphash.String(l.seed, k.Branch) ^ methodWord(k.Method)
}

func (l *Layer) hashSrv(k *srvKey) uint64 {
	h := maphash.String(l.seed, k.branch)
	h ^= bits.RotateLeft64(maphash.String(l.seed, k.host), 21)
	return h ^ uint64(k.port)*0x9e3779b97f4a7c15
}

func (l *Layer) hashMerge(k *mergeKey) uint64 {
	h := maphash.String(l.seed, k.callID)
	h ^= bits.RotateLeft64(maphash.String(l.seed, k.fromTag), 21)
	return h ^ uint64(k.seq)*0x9e3779b97f4a7c15 ^ methodWord(k.method)
}

// methodWord packs the first 8 bytes and the length of m, which tells the
// RFC 3261 methods apart (equal words only cost a collision).
func methodWord(m sip.Method) uint64 {
	var w uint64
	for i := 0; i < len(m) && i < 8; i++ {
		w |= uint64(m[i]) << (8 * i)
	}
	return bits.RotateLeft64(w^uint64(len(m))<<59, 7)
}

func clientKeyOf(tx *ClientTx) Key     { return tx.key }
func srvKeyOf(tx *ServerTx) srvKey     { return tx.srvKey() }
func mergeKeyOf(tx *ServerTx) mergeKey { return tx.mk }
