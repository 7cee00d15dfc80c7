package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"strconv"
	"sync"

	"github.com/parleysip/parley/sip"
)

// keyedHash computes HMAC-SHA256 values under one secret key without
// allocating: the HMAC states and the input buffer are pooled. The zero
// value draws a random key on first use.
type keyedHash struct {
	once sync.Once
	key  []byte
	pool sync.Pool // of *hashState
}

type hashState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// newKeyedHash returns a keyedHash with the given key (tests).
func newKeyedHash(key []byte) *keyedHash {
	k := &keyedHash{}
	k.once.Do(func() { k.key = key })
	return k
}

func (k *keyedHash) get() *hashState {
	k.once.Do(func() {
		k.key = make([]byte, 32)
		_, _ = rand.Read(k.key)
	})
	if s, ok := k.pool.Get().(*hashState); ok {
		s.h.Reset()
		s.buf = s.buf[:0]
		return s
	}
	return &hashState{h: hmac.New(sha256.New, k.key), buf: make([]byte, 0, 512)}
}

func (k *keyedHash) put(s *hashState) {
	if cap(s.buf) <= 8192 {
		k.pool.Put(s)
	}
}

// field appends one length-delimited field to the input.
func (s *hashState) field(v string) {
	s.buf = strconv.AppendInt(s.buf, int64(len(v)), 10)
	s.buf = append(s.buf, ':')
	s.buf = append(s.buf, v...)
}

// fieldURI appends a URI as a field.
func (s *hashState) fieldURI(u *sip.URI) {
	mark := len(s.buf)
	s.buf = u.AppendTo(s.buf)
	n := len(s.buf) - mark
	s.buf = strconv.AppendInt(s.buf, int64(n), 10)
	s.buf = append(s.buf, ':')
}

// hex returns the first n hex digits of the HMAC of the input, appended
// to dst.
func (s *hashState) hex(dst []byte, n int) []byte {
	s.h.Write(s.buf)
	sum := s.h.Sum(s.sum[:0])
	const digits = "0123456789abcdef"
	for i := 0; i < n; i++ {
		b := sum[i/2]
		if i%2 == 0 {
			dst = append(dst, digits[b>>4])
		} else {
			dst = append(dst, digits[b&15])
		}
	}
	return dst
}
