package digest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	md5 := HA1("alice", "example.com", "secret", MD5)
	sha := HA1("alice", "example.com", "secret", SHA256)
	good := "# users\n\n" +
		"alice:example.com:MD5:" + md5 + "\n" +
		"  alice:example.com:sha-256:" + strings.ToUpper(sha) + "  \n" +
		"   # indented comment\n" +
		"bob:sip.example.com:5061:SHA-512-256:" + HA1("bob", "sip.example.com:5061", "pw", SHA512_256) + "\r\n"
	u, err := ParseUsers(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 3 {
		t.Errorf("Len = %d, want 3", u.Len())
	}
	lookups := []struct {
		user, realm string
		alg         Algorithm
		want        string
	}{
		{"alice", "example.com", MD5, md5},
		{"alice", "example.com", SHA256, sha},
		{"alice", "example.com", "SHA-256", sha},
		{"bob", "sip.example.com:5061", SHA512_256, HA1("bob", "sip.example.com:5061", "pw", SHA512_256)},
		{"alice", "example.com", SHA512_256, ""},
		{"alice", "other", MD5, ""},
		{"carol", "example.com", MD5, ""},
	}
	for _, l := range lookups {
		got, ok := u.Lookup(l.user, l.realm, l.alg)
		if got != l.want || ok != (l.want != "") {
			t.Errorf("Lookup(%s, %s, %s) = %q, %v; want %q", l.user, l.realm, l.alg, got, ok, l.want)
		}
	}

	bad := []struct {
		text string
		line int
		msg  string
	}{
		{"alice\n", 1, "want user:realm:algorithm:ha1"},
		{"# c\nalice:example.com:" + md5 + "\n", 2, "want user:realm:algorithm:ha1"},
		{"\n\n:example.com:MD5:" + md5 + "\n", 3, "empty user"},
		{"alice::MD5:" + md5 + "\n", 1, "empty realm"},
		{"alice:example.com:SHA-1:" + md5 + "\n", 1, `unknown algorithm "SHA-1"`},
		{"alice:example.com:MD5-sess:" + md5 + "\n", 1, "unknown algorithm"},
		{"alice:example.com:MD5:abc\n", 1, "must be 32 hexadecimal digits"},
		{"alice:example.com:SHA-256:" + md5 + "\n", 1, "must be 64 hexadecimal digits"},
		{"alice:example.com:MD5:" + strings.Repeat("z", 32) + "\n", 1, "not hexadecimal"},
		{"alice:example.com:MD5:" + md5 + "\nalice:example.com:md5:" + md5 + "\n", 2, "duplicate entry"},
		{"ok:r:MD5:" + md5 + "\n" + strings.Repeat("x", maxUsersLine+1) + "\n", 2, "line too long"},
	}
	for _, b := range bad {
		_, err := ParseUsers(strings.NewReader(b.text))
		ue, ok := errors.AsType[*UsersError](err)
		if !ok {
			t.Errorf("ParseUsers(%.40q) error %v, want *UsersError", b.text, err)
			continue
		}
		if ue.Line != b.line || !strings.Contains(ue.Msg, b.msg) {
			t.Errorf("ParseUsers(%.40q) = line %d %q, want line %d %q", b.text, ue.Line, ue.Msg, b.line, b.msg)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte("alice:r:MD5:"+HA1("alice", "r", "p", MD5)+"\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadUsers(path)
	if err == nil || err.Error() != "digest: "+path+":2: want user:realm:algorithm:ha1" {
		t.Errorf("LoadUsers error %v", err)
	}
	if _, err := LoadUsers(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "digest: ") {
		t.Errorf("missing file: %v", err)
	}
	var u Users
	if err := u.Set("a", "r", "SHA-1", "00"); err == nil {
		t.Error("Set accepted SHA-1")
	}
	if err := u.SetPassword("a", "r", "p"); err != nil || u.Len() != 3 {
		t.Errorf("SetPassword: %v, %d entries", err, u.Len())
	}
}
