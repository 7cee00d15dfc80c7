package registrar

import (
	"testing"

	"github.com/parleysip/parley/internal/leaktest"
)

// TestMain fails the run if goroutines of this package outlive the tests.
func TestMain(m *testing.M) { leaktest.Main(m, "parley/registrar.") }
