package transport

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines of this package (or of the HTTP and
// WebSocket code it drives) outlive the tests, in the manner of net/http's
// main_test.go.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// interestingGoroutines returns the stacks of goroutines that belong to the
// code under test.
func interestingGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		_, stack, _ := strings.Cut(g, "\n")
		ours := strings.Contains(stack, "parley/transport.") || strings.Contains(stack, "net/http.") ||
			strings.Contains(stack, "coder/websocket.")
		if !ours || strings.Contains(stack, "testing.(*M).") || strings.Contains(stack, "interestingGoroutines") {
			continue
		}
		out = append(out, g)
	}
	return out
}

// leakedGoroutines waits up to d for the interesting goroutines to end.
func leakedGoroutines(d time.Duration) []string {
	end := time.Now().Add(d)
	for {
		g := interestingGoroutines()
		if len(g) == 0 || time.Now().After(end) {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countGoroutines() int { return runtime.NumGoroutine() }
