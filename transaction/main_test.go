package transaction

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines of this package outlive the tests,
// in the manner of net/http's main_test.go.
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

// interestingGoroutines returns the stacks of goroutines running code of
// this package.
func interestingGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		_, stack, _ := strings.Cut(g, "\n")
		if !strings.Contains(stack, "parley/transaction.") ||
			strings.Contains(stack, "testing.(*M).") || strings.Contains(stack, "interestingGoroutines") {
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
