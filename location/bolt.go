package location

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltOptions configures a [Bolt] store. The zero value works.
type BoltOptions struct {
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxBatchDelay is how long an update waits for others to share its
	// transaction and fsync (group commit); 2 ms when zero.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps the updates in one transaction; 1000 when zero.
	MaxBatchSize int
	// Timeout bounds the wait for the file lock held by another process;
	// 1 s when zero.
	Timeout time.Duration
}

// Bolt is a [Store] in a bbolt file: one bucket, "location", whose keys are
// AoRs and whose values are encoded records.
//
// Update returns only after its transaction is committed and fsync'd.
// Concurrent updates are group-committed: bbolt's Batch gathers the updates
// that arrive within MaxBatchDelay into one transaction, so a registrar
// under load pays one fsync per batch rather than one per REGISTER.
//
// Expire scans every record (there is no expiry index yet), which is fine
// for a sweep every few seconds up to a few hundred thousand bindings.
type Bolt struct {
	db  *bolt.DB
	now func() time.Time
	hub hub

	mu     sync.RWMutex // held for reading by operations, for writing by Close
	closed bool
}

var _ Store = (*Bolt)(nil)

var bucketName = []byte("location")

// OpenBolt opens or creates the bbolt file at path.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	if db.MaxBatchDelay == 0 {
		db.MaxBatchDelay = 2 * time.Millisecond
	}
	if opts.MaxBatchSize > 0 {
		db.MaxBatchSize = opts.MaxBatchSize
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	s := &Bolt{db: db, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func (s *Bolt) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Bolt) leave() { s.mu.RUnlock() }

// Get implements [Store.Get].
func (s *Bolt) Get(ctx context.Context, aor string) (Record, error) {
	if err := s.enter(); err != nil {
		return Record{}, err
	}
	defer s.leave()
	rec := Record{AoR: aor}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketName).Get([]byte(aor))
		if v == nil {
			return nil
		}
		ver, bs, err := decodeRecord(aor, v)
		rec.Version, rec.Bindings = ver, live(bs, s.now())
		return err
	})
	return rec, err
}

// Update implements [Store.Update]. fn may run more than once when a group
// commit fails and bbolt retries its updates one by one.
func (s *Bolt) Update(ctx context.Context, aor string, fn func(*Record) error) (Record, error) {
	rec, _, err := s.update(ctx, aor, s.now(), fn)
	return rec, err
}

// update is Update at the given time; it also returns the changes made.
func (s *Bolt) update(ctx context.Context, aor string, now time.Time, fn func(*Record) error) (Record, []Change, error) {
	if err := s.enter(); err != nil {
		return Record{}, nil, err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return Record{}, nil, err
	}
	var (
		rec     Record
		changes []Change
		fnErr   error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		rec, changes, fnErr = Record{}, nil, nil
		b := tx.Bucket(bucketName)
		key := []byte(aor)
		var (
			old     []Binding
			version uint64
		)
		if v := b.Get(key); v != nil {
			var err error
			if version, old, err = decodeRecord(aor, v); err != nil {
				return err
			}
		}
		next, r, ch, write, err := apply(aor, old, version, now, fn)
		if err != nil {
			// Not returned to Batch, which would fail and retry the
			// whole group: this update writes nothing and reports err.
			fnErr = err
			return nil
		}
		rec, changes = r, ch
		if !write {
			return nil
		}
		if len(next) == 0 {
			err = b.Delete(key)
		} else {
			var data []byte
			if data, err = encodeRecord(r.Version, next); err == nil {
				err = b.Put(key, data)
			}
		}
		if err == nil {
			// Published once the group's transaction is on disk, by the
			// goroutine that committed it, in the order of the updates.
			tx.OnCommit(func() { s.hub.publish(ch) })
		}
		return err
	})
	if err != nil {
		return Record{}, nil, err
	}
	if fnErr != nil {
		return Record{}, nil, fnErr
	}
	return rec, changes, nil
}

// Delete implements [Store.Delete].
func (s *Bolt) Delete(ctx context.Context, aor string) error {
	_, err := s.Update(ctx, aor, func(r *Record) error { r.Bindings = nil; return nil })
	return err
}

// rangePage is how many records Range and Expire read per read
// transaction; fn runs between transactions, so it may write.
const rangePage = 256

// scan calls fn with the decoded records, a page at a time, outside any
// transaction.
func (s *Bolt) scan(ctx context.Context, fn func(aor string, version uint64, bs []Binding) bool) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		type item struct {
			aor     string
			version uint64
			bs      []Binding
		}
		var page []item
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketName).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(page) < rangePage; k, v = c.Next() {
				aor := string(k)
				ver, bs, err := decodeRecord(aor, v)
				if err != nil {
					return err
				}
				page = append(page, item{aor, ver, bs})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range page {
			if !fn(it.aor, it.version, it.bs) {
				return nil
			}
		}
		if len(page) < rangePage {
			return nil
		}
		after = []byte(page[len(page)-1].aor)
	}
}

// Range implements [Store.Range].
func (s *Bolt) Range(ctx context.Context, fn func(Record) bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return rangeLive(ctx, s.scan, s.now(), fn)
}

// Expire implements [Store.Expire]. It scans every record.
func (s *Bolt) Expire(ctx context.Context, now time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	due, err := dueAoRs(ctx, s.scan, now)
	s.leave()
	if err != nil {
		return 0, err
	}
	// The removals run concurrently so that they share group commits.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		n    int
		errs []error
		sem  = make(chan struct{}, 64)
	)
	for _, aor := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, changes, err := s.update(ctx, aor, now, func(*Record) error { return nil })
			mu.Lock()
			defer mu.Unlock()
			n += countExpired(changes)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// Watch implements [Store.Watch].
func (s *Bolt) Watch(ctx context.Context, buffer int) <-chan Change {
	return s.hub.watch(ctx, buffer)
}

// Close implements [Store.Close]; it waits for operations in progress.
func (s *Bolt) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.hub.close()
	return s.db.Close()
}
