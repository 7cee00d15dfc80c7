package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then fails the run if goroutines whose stacks
// mention any of markers (e.g. "parley/transport.") are still alive 5 s
// later. It does not return.
func Main(m *testing.M, markers ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leaked(5*time.Second, markers...); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Leaked waits up to d for the goroutines running code named by markers
// to end, and returns the stacks of those still alive.
func Leaked(d time.Duration, markers ...string) []string {
	end := time.Now().Add(d)
	for {
		g := interesting(markers)
		if len(g) == 0 || time.Now().After(end) {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func interesting(markers []string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		_, stack, _ := strings.Cut(g, "\n")
		if strings.Contains(stack, "testing.(*M).") || strings.Contains(stack, "leaktest.") {
			continue
		}
		for _, m := range markers {
			if strings.Contains(stack, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
