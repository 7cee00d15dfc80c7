package location

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/parleysip/parley/sip"
)

// GRUUs creates and recognises the Globally Routable User Agent URIs of RFC
// 5627 for a registrar and its authoritative proxy, without storing them:
//
//   - a public GRUU is the AoR with a "gr" parameter holding the instance
//     ID (§5.1: "The public GRUU MUST be constructed by adding the "gr"
//     URI parameter, with a value, to the AOR"), for instance
//     sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6;
//   - a temporary GRUU is sip:tgruu.TOKEN@domain;gr, TOKEN being the AoR,
//     the instance ID and a hash of the registration's Call-ID sealed with
//     AES-256-GCM under the key: only the registrar can read it, and two
//     temporary GRUUs cannot be linked to each other or to an AoR (§5.1
//     property 2; Appendix A's construction).
//
// A temporary GRUU stays valid while a contact of its instance is
// registered under the Call-ID it was issued for: a REGISTER with another
// Call-ID invalidates the older ones (§5.1), and so does the expiry of the
// instance's last contact (§5.3). The same key must be used by every node
// that routes GRUUs and across restarts.
type GRUUs struct {
	aead cipher.AEAD
}

// tempPrefix starts the user part of temporary GRUUs.
const tempPrefix = "tgruu."

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrGRUUKey is returned by NewGRUUs for a key that is not 32 bytes.
var ErrGRUUKey = errors.New("location: a GRUU key is 32 bytes")

// NewGRUUs returns a GRUU generator keyed with key (32 random bytes).
func NewGRUUs(key []byte) (*GRUUs, error) {
	if len(key) != 32 {
		return nil, ErrGRUUKey
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &GRUUs{aead: a}, nil
}

// Public returns the public GRUU of the AoR aor (canonical, as
// CanonicalAoR gives it) for instance (the +sip.instance value without its
// angle brackets).
func (g *GRUUs) Public(aor, instance string) (sip.URI, error) {
	u, err := sip.ParseURI(aor)
	if err != nil {
		return sip.URI{}, err
	}
	u.Params = u.Params.Set("gr", instance)
	return u, nil
}

// Temporary returns a new temporary GRUU for aor and instance, issued for
// the registration with Call-ID callID; each call gives another URI.
func (g *GRUUs) Temporary(aor, instance, callID string) (sip.URI, error) {
	u, err := sip.ParseURI(aor)
	if err != nil {
		return sip.URI{}, err
	}
	h := callHash(callID)
	plain := make([]byte, 0, len(aor)+len(instance)+2+len(h))
	plain = append(append(append(append(plain, aor...), 0), instance...), 0)
	plain = append(plain, h[:]...)
	nonce := make([]byte, g.aead.NonceSize(), g.aead.NonceSize()+len(plain)+g.aead.Overhead())
	_, _ = rand.Read(nonce)
	sealed := g.aead.Seal(nonce, nonce, plain, []byte(u.Host))
	return sip.URI{Scheme: u.Scheme, User: tempPrefix + b32.EncodeToString(sealed), Host: u.Host, Port: u.Port, Params: ";gr"}, nil
}

func callHash(callID string) [8]byte {
	s := sha256.Sum256([]byte(callID))
	return [8]byte(s[:8])
}

// GRUURef is what a GRUU names: an AoR and an instance ID.
type GRUURef struct {
	// AoR is the canonical address-of-record.
	AoR string
	// Instance is the instance ID (a URN, without angle brackets).
	Instance string
	// Temporary says the GRUU was a temporary one.
	Temporary bool
	callHash  [8]byte
}

// IsGRUU reports whether u carries the "gr" parameter (RFC 5627 §6.1).
func IsGRUU(u *sip.URI) bool { return u.Params.Has("gr") }

// Resolve returns what the GRUU u names; ok is false when u is not a GRUU
// this generator made (a temporary GRUU that does not open under the key,
// or a "gr" parameter without a value on another URI).
func (g *GRUUs) Resolve(u sip.URI) (ref GRUURef, ok bool) {
	gr, has := u.Params.Get("gr")
	if !has || !u.IsSIP() {
		return GRUURef{}, false
	}
	if user := u.UserUnescaped(); strings.HasPrefix(user, tempPrefix) && gr == "" {
		token := user[len(tempPrefix):]
		sealed, err := b32.DecodeString(token)
		n := g.aead.NonceSize()
		// Only the canonical spelling is ours: base32 without padding
		// leaves unused bits in the last character, which the decoder
		// ignores, so several tokens would open to the same GRUU.
		if err != nil || len(sealed) < n+g.aead.Overhead() || b32.EncodeToString(sealed) != token {
			return GRUURef{}, false
		}
		plain, err := g.aead.Open(nil, sealed[:n], sealed[n:], []byte(strings.ToLower(u.Host)))
		if err != nil || len(plain) < 10 {
			return GRUURef{}, false
		}
		h := plain[len(plain)-8:]
		aor, inst, ok := bytes.Cut(plain[:len(plain)-8], []byte{0})
		if !ok || len(inst) == 0 || inst[len(inst)-1] != 0 {
			return GRUURef{}, false
		}
		return GRUURef{AoR: string(aor), Instance: string(inst[:len(inst)-1]), Temporary: true, callHash: [8]byte(h)}, true
	}
	if gr == "" {
		return GRUURef{}, false
	}
	aor, err := CanonicalAoR(sip.URI{Scheme: u.Scheme, User: u.User, Host: u.Host, Port: u.Port})
	if err != nil {
		return GRUURef{}, false
	}
	return GRUURef{AoR: aor, Instance: gr}, true
}

// Bindings returns the bindings of rec (the record of ref.AoR) that the
// GRUU reaches, most recently refreshed first (§6.1: "The proxy MUST
// select the most recently refreshed contact"), and whether the GRUU is
// still valid. A public GRUU is valid as long as its AoR (§5.3: with no
// contact it is answered 480); a temporary one only while a contact of its
// instance is registered under the Call-ID it was issued for (§5.1, §5.3;
// an invalid GRUU is answered 404, §6.1).
func (ref GRUURef) Bindings(rec Record) (bs []Binding, valid bool) {
	var newest *Binding
	for i := range rec.Bindings {
		b := &rec.Bindings[i]
		if b.InstanceID != ref.Instance {
			continue
		}
		bs = append(bs, *b)
		if newest == nil || b.Updated.After(newest.Updated) {
			newest = b
		}
	}
	if ref.Temporary && (newest == nil || callHash(newest.CallID) != ref.callHash) {
		return nil, false
	}
	for i := 1; i < len(bs); i++ { // insertion sort: a handful of contacts
		for j := i; j > 0 && bs[j].Updated.After(bs[j-1].Updated); j-- {
			bs[j], bs[j-1] = bs[j-1], bs[j]
		}
	}
	return bs, true
}
