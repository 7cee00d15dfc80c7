package location

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

const childEnv = "PARLEY_LOCATION_KILL_CHILD" // the db path, in the child

// TestBoltSurvivesKill checks "200 means on disk": a child process stores
// bindings with concurrent Updates (so they are group-committed), says
// "ready" once every Update has returned, and is killed with SIGKILL; every
// binding must be in the file afterwards.
func TestBoltSurvivesKill(t *testing.T) {
	const n = 1000
	if path := os.Getenv(childEnv); path != "" {
		boltChild(path, n)
		return
	}
	path := filepath.Join(t.TempDir(), "parley.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoltSurvivesKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(pid, syscall.SIGKILL)
			cmd.Wait()
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("child exited without saying ready")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child not ready within 30s")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found := 0
	if err := s.Range(t.Context(), func(r Record) bool { found += len(r.Bindings); return true }); err != nil {
		t.Fatal(err)
	}
	if found != n {
		t.Fatalf("after kill -9: %d bindings, want %d", found, n)
	}
}

// boltChild writes n bindings from 50 goroutines, prints "ready" and waits
// to be killed.
func boltChild(path string, n int) {
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 50 {
		wg.Go(func() {
			for i := range work {
				b := Binding{Contact: mustContact(nil, fmt.Sprintf("sip:u%d@192.0.2.1", i), ""),
					Expires: time.Now().Add(time.Hour), Q: 1000, CSeq: uint32(i)}
				if _, err := s.Update(context.Background(), fmt.Sprintf("sip:u%d@example.com", i%(n/2)), upsert(b)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(3) // not killed: the parent is gone
}

// Concurrent updates share transactions: 200 updates from 50 goroutines
// take far fewer commits than updates.
func TestBoltGroupCommit(t *testing.T) {
	s, err := OpenBolt(filepath.Join(t.TempDir(), "loc.db"), BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := boltTxID(t, s)
	var wg sync.WaitGroup
	for w := range 50 {
		wg.Go(func() {
			for i := range 4 {
				b := Binding{Contact: mustContact(t, fmt.Sprintf("sip:u%d-%d@192.0.2.1", w, i), ""), Expires: time.Now().Add(time.Hour)}
				if _, err := s.Update(t.Context(), fmt.Sprintf("sip:u%d@example.com", w), upsert(b)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	commits := boltTxID(t, s) - before
	t.Logf("200 concurrent updates took %d commits", commits)
	if commits >= 100 {
		t.Errorf("200 concurrent updates took %d commits; group commit is not working", commits)
	}
}

// boltTxID returns the ID of the last committed write transaction.
func boltTxID(t *testing.T, s *Bolt) int {
	tx, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	return tx.ID()
}
