package digest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

func TestNonce(t *testing.T) {
	secret := []byte("k")
	now := time.Unix(1700000000, 123456789)
	n := newNonce(secret, "r", now)
	if len(n) != nonceText {
		t.Fatalf("nonce %q has length %d, want %d", n, len(n), nonceText)
	}
	if n == newNonce(secret, "r", now) {
		t.Error("two nonces of the same instant are equal")
	}
	issued, ok := checkNonce(secret, "r", n)
	if !ok || !issued.Equal(now) {
		t.Fatalf("checkNonce = %v, %v", issued, ok)
	}
	if _, ok := checkNonce(secret, "r2", n); ok {
		t.Error("nonce accepted for another realm")
	}
	if _, ok := checkNonce([]byte("k2"), "r", n); ok {
		t.Error("nonce accepted under another secret")
	}
	for i := range len(n) {
		for _, c := range []byte{'A', 'z', '_'} {
			if n[i] == c {
				continue
			}
			b := []byte(n)
			b[i] = c
			if _, ok := checkNonce(secret, "r", string(b)); ok {
				t.Errorf("nonce with byte %d changed to %c accepted", i, c)
			}
		}
	}
	for _, bad := range []string{"", "short", n + "A", n[:len(n)-1] + "=", string(make([]byte, nonceText))} {
		if _, ok := checkNonce(secret, "r", bad); ok {
			t.Errorf("checkNonce(%q) accepted", bad)
		}
	}
}

// TestNonceMACIsHMAC: the stack HMAC equals crypto/hmac's, for short and
// long secrets and realms.
func TestNonceMACIsHMAC(t *testing.T) {
	for _, secret := range [][]byte{[]byte("k"), make([]byte, 32), make([]byte, 64), make([]byte, 65)} {
		for _, realm := range []string{"", "example.com", strings.Repeat("r", 300)} {
			head := []byte("0123456789abcdef")
			m := hmac.New(sha256.New, secret)
			m.Write(head)
			m.Write([]byte(realm))
			want := m.Sum(nil)[:nonceMAC]
			if got := nonceMACOf(secret, realm, head); !bytes.Equal(got[:], want) {
				t.Errorf("secret %d bytes, realm %d: %x, want %x", len(secret), len(realm), got, want)
			}
		}
	}
}
