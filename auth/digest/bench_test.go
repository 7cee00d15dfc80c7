package digest

import (
	"strings"
	"testing"
	"time"

	"github.com/parleysip/parley/sip"
)

func BenchmarkVerify(b *testing.B) {
	users := &Users{}
	_ = users.SetPassword("alice", realm, "secret")
	s := &Server{Realm: realm, Users: users, ReplayCacheSize: 1 << 20}
	req := newRequest(sip.REGISTER, "alice")
	ch, _ := Choose(mustAuths(b, s.Challenge(req, false)))
	now := time.Now()
	nc := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		nc++
		cred, _ := Answer(ch, sip.REGISTER, "sip:example.com", "alice", "secret", nil, func() string { return "c" }, nc)
		_ = req.Set("Authorization", Value(cred))
		if _, r := s.Verify(req, now); r != Authenticated {
			b.Fatal(r)
		}
	}
}

func BenchmarkAnswer(b *testing.B) {
	ch, _ := sip.ParseAuth(`Digest realm="example.com", nonce="bm9uY2U", algorithm=SHA-256, qop="auth"`)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Answer(ch, sip.REGISTER, "sip:example.com", "alice", "secret", nil, func() string { return "c" }, 1)
	}
}

func mustAuths(tb testing.TB, res *sip.Response) []sip.Auth {
	a, err := res.Auths("WWW-Authenticate")
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func FuzzParseUsers(f *testing.F) {
	f.Add("alice:example.com:MD5:" + HA1("alice", "example.com", "p", MD5) + "\n# c\n")
	f.Add("a:b:c:SHA-256:" + strings.Repeat("0", 64))
	f.Add(":::\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		u, err := ParseUsers(strings.NewReader(text))
		if err != nil {
			if _, ok := err.(*UsersError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if u.Len() > strings.Count(text, "\n")+1 {
			t.Fatalf("%d entries from %d lines", u.Len(), strings.Count(text, "\n")+1)
		}
	})
}
