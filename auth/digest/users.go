package digest

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// UserStore finds the HA1 of a user in a realm for an algorithm (RFC 7616
// §3.4.2: H(username ":" realm ":" password)). ok is false for an unknown
// user, realm or algorithm. Implementations must be safe for concurrent
// use and should take the same time whether or not the user exists.
type UserStore interface {
	Lookup(user, realm string, alg Algorithm) (ha1 string, ok bool)
}

type userKey struct {
	user, realm string
	alg         Algorithm
}

// Users is an in-memory [UserStore], usually read from a users file with
// [ParseUsers] or [LoadUsers]. The zero value is an empty store ready to
// use; it is safe for concurrent use.
type Users struct {
	mu sync.RWMutex
	m  map[userKey]string
}

// Lookup implements [UserStore].
func (u *Users) Lookup(user, realm string, alg Algorithm) (string, bool) {
	c, _ := canonical(alg)
	u.mu.RLock()
	ha1, ok := u.m[userKey{user, realm, c}]
	u.mu.RUnlock()
	return ha1, ok
}

// Set records the HA1 of user in realm for alg, replacing any earlier one.
// It returns an error if alg is unknown or ha1 is not a hexadecimal digest
// of alg's size.
func (u *Users) Set(user, realm string, alg Algorithm, ha1 string) error {
	c, ok := canonical(alg)
	if !ok || !c.Known() {
		return fmt.Errorf("digest: unknown algorithm %q", alg)
	}
	if len(ha1) != c.Size() {
		return fmt.Errorf("digest: HA1 for %s must be %d hexadecimal digits", c, c.Size())
	}
	if _, err := hex.DecodeString(ha1); err != nil {
		return errors.New("digest: HA1 is not hexadecimal")
	}
	u.mu.Lock()
	if u.m == nil {
		u.m = make(map[userKey]string)
	}
	u.m[userKey{user, realm, c}] = strings.ToLower(ha1)
	u.mu.Unlock()
	return nil
}

// SetPassword records the HA1 of user's password in realm for each of algs
// (all three algorithms when algs is empty). It is meant for tests and
// tools; servers should be configured with HA1 values.
func (u *Users) SetPassword(user, realm, password string, algs ...Algorithm) error {
	if len(algs) == 0 {
		algs = []Algorithm{SHA512_256, SHA256, MD5}
	}
	for _, a := range algs {
		if err := u.Set(user, realm, a, HA1(user, realm, password, a)); err != nil {
			return err
		}
	}
	return nil
}

// Len returns the number of entries (user, realm, algorithm) in u.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.m)
}

// UsersError reports a bad line of a users file.
type UsersError struct {
	Path string // file name, empty when parsed from a reader
	Line int    // 1-based line number
	Msg  string
}

// Error returns the message with the file name (or "users") and line.
func (e *UsersError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("digest: %s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("digest: users line %d: %s", e.Line, e.Msg)
}

// maxUsersLine bounds one line of a users file.
const maxUsersLine = 4096

// ParseUsers reads a users file: one entry per line,
//
//	user:realm:algorithm:ha1
//
// where algorithm is MD5, SHA-256 or SHA-512-256 and ha1 is
// H(user ":" realm ":" password) in hexadecimal ([HA1]). The realm may
// contain colons (the user may not); blank lines and lines whose first
// non-blank character is '#' are ignored, and surrounding white space is
// trimmed. A user may have one line per realm and algorithm. The first bad
// line is reported as a *[UsersError] with its number.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{m: make(map[userKey]string)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxUsersLine)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		bad := func(format string, a ...any) error {
			return &UsersError{Line: line, Msg: fmt.Sprintf(format, a...)}
		}
		user, rest, ok := strings.Cut(s, ":")
		i := strings.LastIndexByte(rest, ':')
		if !ok || i < 0 {
			return nil, bad("want user:realm:algorithm:ha1")
		}
		ha1 := rest[i+1:]
		rest = rest[:i]
		j := strings.LastIndexByte(rest, ':')
		if j < 0 {
			return nil, bad("want user:realm:algorithm:ha1")
		}
		realm, alg := rest[:j], Algorithm(rest[j+1:])
		switch {
		case user == "":
			return nil, bad("empty user")
		case realm == "":
			return nil, bad("empty realm")
		case !alg.Known():
			return nil, bad("unknown algorithm %q", string(alg))
		}
		c, _ := canonical(alg)
		if _, dup := u.m[userKey{user, realm, c}]; dup {
			return nil, bad("duplicate entry for %q in realm %q with %s", user, realm, c)
		}
		if err := u.Set(user, realm, c, ha1); err != nil {
			return nil, bad("%s", strings.TrimPrefix(err.Error(), "digest: "))
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &UsersError{Line: line + 1, Msg: "line too long"}
		}
		return nil, fmt.Errorf("digest: reading users: %w", err)
	}
	return u, nil
}

// LoadUsers reads the users file at path with [ParseUsers]; a
// *[UsersError] names the file.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if ue, ok := errors.AsType[*UsersError](err); ok {
		ue.Path = path
	}
	return u, err
}
