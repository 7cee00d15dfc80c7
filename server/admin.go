package server

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// The admin listener (DESIGN.md): /healthz and /readyz are open; /metrics
// is open to loopback clients and needs the admin login from anywhere
// else; /registrations (it shows users) always needs the login; a listener
// off loopback needs TLS.

// adminIterations is the PBKDF2-HMAC-SHA256 work factor of new admin
// password hashes (OWASP's 2023 figure for this function).
const adminIterations = 600000

const adminHashScheme = "pbkdf2-sha256"

// HashAdminPassword returns the hash of password to put in the
// configuration's admin_password: "pbkdf2-sha256$ITERATIONS$SALT$KEY",
// salt and key in unpadded base64. `parley serve hash-password` prints
// one.
func HashAdminPassword(password string) (string, error) {
	return hashAdminPassword(password, adminIterations)
}

func hashAdminPassword(password string, iter int) (string, error) {
	if password == "" {
		return "", errors.New("server: empty admin password")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", adminHashScheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// parsedHash is an admin password hash.
type parsedHash struct {
	iter      int
	salt, key []byte
}

func parseAdminHash(h string) (parsedHash, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != adminHashScheme {
		return parsedHash{}, fmt.Errorf("admin_password: want %s$ITERATIONS$SALT$KEY (parley serve hash-password)", adminHashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 10000 || iter > 10000000 {
		return parsedHash{}, fmt.Errorf("admin_password: iterations %q out of range", parts[1])
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != 32 {
		return parsedHash{}, errors.New("admin_password: bad salt or key")
	}
	return parsedHash{iter: iter, salt: salt, key: key}, nil
}

// adminAuth checks HTTP basic credentials against the configured admin
// user and hash. A verified pair is remembered (as a SHA-256 of it) so
// that a scraper does not pay the PBKDF2 cost on every request.
type adminAuth struct {
	user string
	hash parsedHash
	ok   bool // a user and a valid hash are configured

	mu   sync.Mutex
	seen map[[32]byte]bool
}

func newAdminAuth(user, hash string) (*adminAuth, error) {
	a := &adminAuth{user: user, seen: map[[32]byte]bool{}}
	if user == "" && hash == "" {
		return a, nil
	}
	h, err := parseAdminHash(hash)
	if err != nil {
		return nil, err
	}
	a.hash, a.ok = h, true
	return a, nil
}

func (a *adminAuth) check(user, password string) bool {
	if !a.ok {
		return false
	}
	memo := sha256.Sum256([]byte(user + "\x00" + password))
	a.mu.Lock()
	hit := a.seen[memo]
	a.mu.Unlock()
	if hit {
		return true
	}
	key, err := pbkdf2.Key(sha256.New, password, a.hash.salt, a.hash.iter, len(a.hash.key))
	if err != nil {
		return false
	}
	good := subtle.ConstantTimeCompare(key, a.hash.key) == 1 && subtle.ConstantTimeCompare([]byte(user), []byte(a.user)) == 1
	if good {
		a.mu.Lock()
		if len(a.seen) < 64 {
			a.seen[memo] = true
		}
		a.mu.Unlock()
	}
	return good
}

// require wraps h with the login: 401 with a Basic challenge without valid
// credentials, 403 when no admin user is configured.
func (a *adminAuth) require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.ok {
			http.Error(w, "forbidden: set admin_user and admin_password (parley serve hash-password) to use this page", http.StatusForbidden)
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || !a.check(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="parley admin", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackOr serves loopback clients with h and others through auth.
func (a *adminAuth) loopbackOr(h http.Handler) http.Handler {
	guarded := a.require(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
			h.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether an admin address's host is loopback.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
