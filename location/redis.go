package location

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a [Redis] store. The zero value works.
type RedisOptions struct {
	// Prefix starts every key and the channel name; "parley:location:"
	// when empty. Nodes that share bindings use the same prefix.
	Prefix string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Grace is added to a record's latest expiry to give its key's TTL, so
	// that a sweep can report the expiry before Redis drops the key
	// silently; 5 minutes when zero.
	Grace time.Duration
	// MaxRetries bounds the attempts of one Update when other writers keep
	// winning the race for the same AoR; 100 when zero.
	MaxRetries int
}

// Redis is a [Store] in Redis or Valkey, shared by the nodes of a cluster.
//
// Each AoR is one string key, Prefix + AoR, holding the encoded record,
// with a TTL of the record's latest expiry plus Grace. Update is an
// optimistic transaction (WATCH, GET, MULTI, SET, PUBLISH, EXEC) retried
// when another writer changed the key first, so fn may run several times.
// Changes are published on the channel Prefix + "changes" inside the same
// transaction; every Redis store subscribed to it delivers them to its
// watchers, so a node sees the changes made by every node, its own
// delivered directly and the others' when Redis relays them. Pub/sub does
// not queue: changes published while a node's subscription is reconnecting
// are lost to that node's watchers.
type Redis struct {
	client     redis.UniversalClient
	prefix     string
	channel    string
	now        func() time.Time
	grace      time.Duration
	maxRetries int
	origin     string // this instance, to skip its own messages

	hub    hub
	pubsub *redis.PubSub
	done   chan struct{}
	mu     sync.RWMutex
	closed bool
}

var _ Store = (*Redis)(nil)

// ErrConflict is returned by [Redis.Update] when MaxRetries attempts all
// lost the race for the AoR to other writers.
var ErrConflict = errors.New("location: too many concurrent updates")

// envelope is what the change channel carries.
type envelope struct {
	Origin  string       `json:"o"`
	AoR     string       `json:"a"`
	Version uint64       `json:"v"`
	Kinds   []ChangeKind `json:"k"`
	Record  []byte       `json:"r"` // encoded bindings, one per kind
}

// NewRedis returns a store on client, subscribed to its change channel.
// The caller keeps ownership of client; Close does not close it.
func NewRedis(ctx context.Context, client redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	s := &Redis{
		client: client, prefix: opts.Prefix, now: opts.Now, grace: opts.Grace,
		maxRetries: opts.MaxRetries, done: make(chan struct{}),
	}
	if s.prefix == "" {
		s.prefix = "parley:location:"
	}
	s.channel = s.prefix + "changes"
	if s.now == nil {
		s.now = time.Now
	}
	if s.grace == 0 {
		s.grace = 5 * time.Minute
	}
	if s.maxRetries == 0 {
		s.maxRetries = 100
	}
	s.origin = randomID()
	s.pubsub = client.Subscribe(ctx, s.channel)
	if _, err := s.pubsub.Receive(ctx); err != nil { // the subscription confirmation
		s.pubsub.Close()
		return nil, fmt.Errorf("location: subscribe %s: %w", s.channel, err)
	}
	go s.relay(s.pubsub.Channel(redis.WithChannelSize(1024)))
	return s, nil
}

func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// relay delivers the changes other instances publish.
func (s *Redis) relay(ch <-chan *redis.Message) {
	defer close(s.done)
	for m := range ch {
		var e envelope
		if json.Unmarshal([]byte(m.Payload), &e) != nil || e.Origin == s.origin {
			continue
		}
		_, bs, err := decodeRecord(e.AoR, e.Record)
		if err != nil || len(bs) != len(e.Kinds) {
			continue
		}
		changes := make([]Change, len(bs))
		for i := range bs {
			changes[i] = Change{Kind: e.Kinds[i], AoR: e.AoR, Binding: bs[i], Version: e.Version}
		}
		s.hub.publish(changes)
	}
}

func (s *Redis) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Redis) leave() { s.mu.RUnlock() }

func (s *Redis) key(aor string) string { return s.prefix + "aor:" + aor }

func (s *Redis) load(ctx context.Context, c redis.Cmdable, aor string) (uint64, []Binding, error) {
	v, err := c.Get(ctx, s.key(aor)).Bytes()
	if errors.Is(err, redis.Nil) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return decodeRecord(aor, v)
}

// Get implements [Store.Get].
func (s *Redis) Get(ctx context.Context, aor string) (Record, error) {
	if err := s.enter(); err != nil {
		return Record{}, err
	}
	defer s.leave()
	ver, bs, err := s.load(ctx, s.client, aor)
	if err != nil {
		return Record{}, err
	}
	return Record{AoR: aor, Bindings: live(bs, s.now()), Version: ver}, nil
}

// Update implements [Store.Update]. fn may run several times; after
// MaxRetries lost races Update returns [ErrConflict].
func (s *Redis) Update(ctx context.Context, aor string, fn func(*Record) error) (Record, error) {
	rec, _, err := s.update(ctx, aor, s.now(), fn)
	return rec, err
}

func (s *Redis) update(ctx context.Context, aor string, now time.Time, fn func(*Record) error) (Record, []Change, error) {
	if err := s.enter(); err != nil {
		return Record{}, nil, err
	}
	defer s.leave()
	key := s.key(aor)
	var (
		rec     Record
		changes []Change
		fnErr   error
	)
	txf := func(tx *redis.Tx) error {
		rec, changes, fnErr = Record{}, nil, nil
		version, old, err := s.load(ctx, tx, aor)
		if err != nil {
			return err
		}
		next, r, ch, write, err := apply(aor, old, version, now, fn)
		if err != nil {
			fnErr = err
			return nil
		}
		rec, changes = r, ch
		if !write {
			return nil
		}
		msg, err := s.envelope(aor, r.Version, ch)
		if err != nil {
			return err
		}
		var data []byte
		var ttl time.Duration
		if len(next) > 0 {
			if data, err = encodeRecord(r.Version, next); err != nil {
				return err
			}
			latest := next[0].Expires
			for i := range next {
				if next[i].Expires.After(latest) {
					latest = next[i].Expires
				}
			}
			ttl = max(latest.Sub(now), 0) + s.grace
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(next) == 0 {
				p.Del(ctx, key)
			} else {
				p.Set(ctx, key, data, ttl)
			}
			p.Publish(ctx, s.channel, msg)
			return nil
		})
		return err
	}
	for attempt := 0; attempt < s.maxRetries; attempt++ {
		err := s.client.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			// Another writer won; back off a little, with jitter, so that
			// a crowd of writers on one AoR does not retry in lockstep.
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 4)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return Record{}, nil, ctx.Err()
			}
			continue
		}
		if err != nil {
			return Record{}, nil, err
		}
		if fnErr != nil {
			return Record{}, nil, fnErr
		}
		s.hub.publish(changes)
		return rec, changes, nil
	}
	return Record{}, nil, ErrConflict
}

func (s *Redis) envelope(aor string, version uint64, changes []Change) ([]byte, error) {
	bs := make([]Binding, len(changes))
	kinds := make([]ChangeKind, len(changes))
	for i, c := range changes {
		bs[i], kinds[i] = c.Binding, c.Kind
	}
	rec, err := encodeRecord(version, bs)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&envelope{Origin: s.origin, AoR: aor, Version: version, Kinds: kinds, Record: rec})
}

// Delete implements [Store.Delete].
func (s *Redis) Delete(ctx context.Context, aor string) error {
	_, err := s.Update(ctx, aor, func(r *Record) error { r.Bindings = nil; return nil })
	return err
}

// scan calls fn for every record, reading keys found by SCAN a page at a
// time. On a cluster it scans every master.
func (s *Redis) scan(ctx context.Context, fn func(aor string, version uint64, bs []Binding) bool) error {
	match := s.prefix + "aor:*"
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		var (
			mu   sync.Mutex
			keys []string
		)
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			it := c.Scan(ctx, 0, match, 256).Iterator()
			for it.Next(ctx) {
				mu.Lock()
				keys = append(keys, it.Val())
				mu.Unlock()
			}
			return it.Err()
		})
		if err != nil {
			return err
		}
		for len(keys) > 0 {
			n := min(len(keys), 256)
			if more, err := s.readPage(ctx, keys[:n], fn); err != nil || !more {
				return err
			}
			keys = keys[n:]
		}
		return nil
	}
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, match, 256).Result()
		if err != nil {
			return err
		}
		if more, err := s.readPage(ctx, keys, fn); err != nil || !more {
			return err
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// readPage reads keys in one pipeline (which a cluster client splits by
// slot) and calls fn for each record still there; more is false when fn
// asked to stop.
func (s *Redis) readPage(ctx context.Context, keys []string, fn func(aor string, version uint64, bs []Binding) bool) (more bool, err error) {
	if len(keys) == 0 {
		return true, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, err
	}
	for i, c := range cmds {
		v, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired or deleted since SCAN
		}
		if err != nil {
			return false, err
		}
		aor := strings.TrimPrefix(keys[i], s.prefix+"aor:")
		ver, bs, err := decodeRecord(aor, v)
		if err != nil {
			return false, err
		}
		if !fn(aor, ver, bs) {
			return false, nil
		}
	}
	return true, nil
}

// Range implements [Store.Range]. It walks the keys with SCAN, so a record
// may be visited twice if the keyspace is rehashed meanwhile.
func (s *Redis) Range(ctx context.Context, fn func(Record) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return rangeLive(ctx, s.scan, s.now(), fn)
}

// Expire implements [Store.Expire]. Several nodes may sweep at once: the
// transactions make each expiry reported once.
func (s *Redis) Expire(ctx context.Context, now time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	due, err := dueAoRs(ctx, s.scan, now)
	s.leave()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, aor := range due {
		_, changes, err := s.update(ctx, aor, now, func(*Record) error { return nil })
		n += countExpired(changes)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Watch implements [Store.Watch].
func (s *Redis) Watch(ctx context.Context, buffer int) <-chan Change {
	return s.hub.watch(ctx, buffer)
}

// Close implements [Store.Close]. It does not close the client.
func (s *Redis) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.pubsub.Close()
	<-s.done
	s.hub.close()
	return err
}
