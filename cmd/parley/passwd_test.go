package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleysip/parley/auth/digest"
)

func TestPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(file, []byte("# staff\nbob:example.com:MD5:"+digest.HA1("bob", "example.com", "x", digest.MD5)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd(t, "s3cret\n", "passwd", "--file", file, "--realm", "example.com", "alice"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	// Change alice's password for MD5 only.
	if code, _, errs := runCmd(t, "", "passwd", "--file", file, "--realm", "example.com", "--algorithms", "MD5", "--password", "n3w", "alice"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# staff\nbob:") || strings.Contains(string(data), "s3cret") || strings.Count(string(data), "alice:") != 2 {
		t.Errorf("file:\n%s", data)
	}
	users, err := digest.LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, pass string
		alg        digest.Algorithm
	}{{"alice", "n3w", digest.MD5}, {"alice", "s3cret", digest.SHA256}, {"bob", "x", digest.MD5}} {
		if ha1, ok := users.Lookup(c.user, "example.com", c.alg); !ok || ha1 != digest.HA1(c.user, "example.com", c.pass, c.alg) {
			t.Errorf("%s %s: HA1 %q %v", c.user, c.alg, ha1, ok)
		}
	}
	if code, _, _ := runCmd(t, "x\n", "passwd", "--file", file, "alice"); code != 2 {
		t.Errorf("no realm: exit %d", code)
	}
	if code, _, _ := runCmd(t, "x\n", "passwd", "--file", file, "--realm", "r", "--algorithms", "SHA-1", "alice"); code != 2 {
		t.Errorf("bad algorithm: exit %d", code)
	}
	if err := os.WriteFile(file, []byte("garbage line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCmd(t, "x\n", "passwd", "--file", file, "--realm", "r", "alice"); code != 1 {
		t.Errorf("malformed file: exit %d, want 1", code)
	}
}
