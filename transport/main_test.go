package transport

import (
	"runtime"
	"testing"
	"time"

	"github.com/parleysip/parley/internal/leaktest"
)

// ours are the stack markers of the code under test: this package and the
// HTTP and WebSocket code it drives.
var ours = []string{"parley/transport.", "net/http.", "coder/websocket."}

// TestMain fails the run if goroutines of the code under test outlive the
// tests.
func TestMain(m *testing.M) { leaktest.Main(m, ours...) }

// leakedGoroutines waits up to d for the goroutines of the code under test
// to end and returns the stacks of those left.
func leakedGoroutines(d time.Duration) []string { return leaktest.Leaked(d, ours...) }

func countGoroutines() int { return runtime.NumGoroutine() }
