package location

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServers caches one redis-server per top-level test.
var redisServers sync.Map // *testing.T (top level) → string address

// redisServer returns the address of a redis-server started for the
// top-level test owner on a free loopback port, and stopped by PID when
// owner ends. Without the binary the test (t) is skipped, or fails when the
// CI environment variable is set: scripts/deps.sh installs it.
func redisServer(t *testing.T, owner *testing.T) string {
	t.Helper()
	if a, ok := redisServers.Load(owner); ok {
		return a.(string)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found; run scripts/deps.sh (Debian package redis-server)")
		}
		t.Skip("redis-server not found; install it (scripts/deps.sh, Debian package redis-server) to test the Redis store")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", owner.TempDir())
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	owner.Cleanup(func() {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	redisServers.Store(owner, addr)
	owner.Cleanup(func() { redisServers.Delete(owner) })
	return addr
}

// newTestRedis returns a Redis store on its own client and key prefix.
func newTestRedis(t *testing.T, addr, prefix string, c *clock) *Redis {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { client.Close() })
	opts := RedisOptions{Prefix: prefix}
	if c != nil {
		opts.Now = c.Now
	}
	s, err := NewRedis(t.Context(), client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Two stores on one Redis are two nodes: each sees the other's changes and
// both read the same records.
func TestRedisTwoNodes(t *testing.T) {
	addr := redisServer(t, t)
	c := newClock()
	a := newTestRedis(t, addr, "two:", c)
	b := newTestRedis(t, addr, "two:", c)
	ctx := t.Context()
	evA, evB := a.Watch(ctx, 16), b.Watch(ctx, 16)

	bind := Binding{Contact: mustContact(t, "sip:alice@192.0.2.1", ";+sip.audio"), Expires: c.Now().Add(time.Hour), Q: 1000, Node: "a"}
	if _, err := a.Update(ctx, aliceAoR, upsert(bind)); err != nil {
		t.Fatal(err)
	}
	wantChange(t, evA, Created, aliceAoR, "sip:alice@192.0.2.1")
	ch := wantChange(t, evB, Created, aliceAoR, "sip:alice@192.0.2.1")
	if ch.Binding.Node != "a" || string(ch.Binding.Contact.Params) != ";+sip.audio" || ch.Version != 1 {
		t.Errorf("relayed change: %+v", ch)
	}
	rec, err := b.Get(ctx, aliceAoR)
	if err != nil || len(rec.Bindings) != 1 {
		t.Fatalf("node b Get: %+v, %v", rec, err)
	}
	if err := b.Delete(ctx, aliceAoR); err != nil {
		t.Fatal(err)
	}
	wantChange(t, evB, Removed, aliceAoR, "sip:alice@192.0.2.1")
	wantChange(t, evA, Removed, aliceAoR, "sip:alice@192.0.2.1")
	noChange(t, evA)
	noChange(t, evB)

	// Both nodes sweep; the expiry is reported once.
	bind.Expires = c.Now().Add(time.Second)
	if _, err := a.Update(ctx, aliceAoR, upsert(bind)); err != nil {
		t.Fatal(err)
	}
	next(t, evA)
	next(t, evB)
	c.Add(2 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, s := range []*Redis{a, b} {
		wg.Go(func() {
			n, err := s.Expire(ctx, c.Now())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != 1 {
		t.Errorf("two sweeps removed %d bindings, want 1", total)
	}
	wantChange(t, evA, Expired, aliceAoR, "sip:alice@192.0.2.1")
	wantChange(t, evB, Expired, aliceAoR, "sip:alice@192.0.2.1")
	noChange(t, evA)
}

// The key's TTL follows the latest expiry plus the grace period.
func TestRedisTTL(t *testing.T) {
	addr := redisServer(t, t)
	c := newClock()
	s := newTestRedis(t, addr, "ttl:", c)
	b := Binding{Contact: mustContact(t, "sip:alice@192.0.2.1", ""), Expires: c.Now().Add(time.Hour)}
	if _, err := s.Update(t.Context(), aliceAoR, upsert(b)); err != nil {
		t.Fatal(err)
	}
	ttl, err := s.client.TTL(context.Background(), s.key(aliceAoR)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Hour + 5*time.Minute; ttl < want-5*time.Second || ttl > want {
		t.Errorf("TTL = %v, want about %v", ttl, want)
	}
}
