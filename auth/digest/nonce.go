package digest

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// A nonce is base64url(ts || rnd || mac) with
//
//	ts  = issue time, Unix nanoseconds, 8 bytes big-endian
//	rnd = 8 random bytes, so that each challenge has its own nonce
//	mac = HMAC-SHA-256(secret, ts || rnd || realm) truncated to 16 bytes
//
// (RFC 7616 §3.3 suggests time-stamp H(time-stamp ":" ETag ":" secret-data);
// an HMAC is the modern form.) It is checked without server state.
const (
	nonceTS   = 8
	nonceRnd  = 8
	nonceMAC  = 16
	nonceLen  = nonceTS + nonceRnd + nonceMAC
	nonceText = (nonceLen*8 + 5) / 6 // unpadded base64 length
)

var nonceEnc = base64.RawURLEncoding.Strict()

// nonceMACOf is HMAC-SHA-256(secret, head || realm) (RFC 2104) truncated
// to nonceMAC bytes, computed on the stack: no allocation for a secret of
// up to one block and a short realm, crypto/hmac otherwise.
func nonceMACOf(secret []byte, realm string, head []byte) (mac [nonceMAC]byte) {
	const block = 64 // SHA-256's block size
	var buf [block + 256]byte
	if len(secret) > block || len(head)+len(realm) > len(buf)-block {
		m := hmac.New(sha256.New, secret)
		m.Write(head)
		m.Write([]byte(realm))
		copy(mac[:], m.Sum(nil))
		return mac
	}
	var key [block]byte
	copy(key[:], secret)
	for i := range block {
		buf[i] = key[i] ^ 0x36
	}
	n := block + copy(buf[block:], head)
	n += copy(buf[n:], realm)
	inner := sha256.Sum256(buf[:n])
	var outer [block + sha256.Size]byte
	for i := range block {
		outer[i] = key[i] ^ 0x5c
	}
	copy(outer[block:], inner[:])
	sum := sha256.Sum256(outer[:])
	copy(mac[:], sum[:])
	return mac
}

func newNonce(secret []byte, realm string, now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceTS], uint64(now.UnixNano()))
	rand.Read(b[nonceTS : nonceTS+nonceRnd])
	mac := nonceMACOf(secret, realm, b[:nonceTS+nonceRnd])
	copy(b[nonceTS+nonceRnd:], mac[:])
	return nonceEnc.EncodeToString(b[:])
}

// checkNonce returns the issue time of a nonce made by newNonce with the
// same secret and realm, or ok false.
func checkNonce(secret []byte, realm, nonce string) (issued time.Time, ok bool) {
	if len(nonce) != nonceText {
		return time.Time{}, false
	}
	var b [nonceLen]byte
	if n, err := nonceEnc.Decode(b[:], []byte(nonce)); err != nil || n != nonceLen {
		return time.Time{}, false
	}
	mac := nonceMACOf(secret, realm, b[:nonceTS+nonceRnd])
	if !hmac.Equal(b[nonceTS+nonceRnd:], mac[:]) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b[:nonceTS]))), true
}

// replayCache remembers the highest nonce-count accepted per nonce
// (RFC 7616 §3.4: the server "SHOULD check that the nc-value has not
// been used before"). It holds at most max nonces; when it must forget an
// unexpired one it raises a watermark, and a nonce issued at or before the
// watermark that is no longer in the cache is treated as stale, so that
// forgetting never lets a replay through.
type replayCache struct {
	mu        sync.Mutex
	max       int
	ttl       time.Duration
	m         map[string]*list.Element
	order     list.List // of *replayEntry, oldest first use at the front
	watermark time.Time
}

type replayEntry struct {
	nonce  string
	issued time.Time
	nc     uint64
}

type replayVerdict int

const (
	replayOK replayVerdict = iota
	replayRepeated
	replayForgotten
)

// use records nc for nonce if it is higher than any accepted before.
func (c *replayCache) use(nonce string, issued time.Time, nc uint64, now time.Time) replayVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*list.Element)
	}
	if e, ok := c.m[nonce]; ok {
		ent := e.Value.(*replayEntry)
		if nc <= ent.nc {
			return replayRepeated
		}
		ent.nc = nc
		return replayOK
	}
	if !issued.After(c.watermark) {
		return replayForgotten
	}
	// Drop expired entries from the front, then make room.
	for c.order.Len() > 0 {
		front := c.order.Front()
		ent := front.Value.(*replayEntry)
		expired := now.Sub(ent.issued) > c.ttl
		if !expired && c.order.Len() < c.max {
			break
		}
		if !expired && ent.issued.After(c.watermark) {
			c.watermark = ent.issued
		}
		c.order.Remove(front)
		delete(c.m, ent.nonce)
	}
	if !issued.After(c.watermark) {
		return replayForgotten
	}
	c.m[nonce] = c.order.PushBack(&replayEntry{nonce: nonce, issued: issued, nc: nc})
	return replayOK
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
