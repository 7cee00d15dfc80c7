package parley_test

// The import rules of ../shared/DESIGN.md, held as data in the manner of
// Go's go/build/deps_test.go. This is a statement of policy: change it
// deliberately, never to make a build pass.

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/parleysip/parley"

// layers lists the module's packages from the bottom up. A package may
// import any package on an earlier line and none on its own line or a
// later one. Every package of the module must appear here.
var layers = [][]string{
	{"internal/abnf", "internal/gen", "internal/leaktest", "internal/dnstest", "internal/procs"},
	{"sip", "sdp"},
	{"transport"},
	{"resolve"},
	{"transaction"},
	{"stack"},
	{"dialog", "location", "auth/digest", "siptest"},
	{"ua", "registrar", "proxy", "event"},
	{"server"},
	{"cmd/parley"},
}

// forbidden pairs restate rules of DESIGN.md that the layering already
// implies, so that a future reshuffle of layers cannot drop them silently.
var forbidden = [][2]string{
	{"transport", "transaction"},
	{"proxy", "ua"},
	{"registrar", "ua"},
}

// thirdParty lists, per package, the modules outside the standard library
// it may import (DESIGN.md "Dependencies").
var thirdParty = map[string][]string{
	"resolve":          {"github.com/miekg/dns"},
	"internal/dnstest": {"github.com/miekg/dns"},
	"transport":        {"github.com/coder/websocket"},
	"location":         {"go.etcd.io/bbolt", "github.com/redis/go-redis/v9"},
	"server":           {"go.yaml.in/yaml/v3", "github.com/prometheus/client_golang", "github.com/redis/go-redis/v9"},
	"cmd/parley":       {"github.com/spf13/cobra", "github.com/pion/rtp"},
	"ua":               {"github.com/pion/rtp"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	level := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			level[p] = i
		}
	}
	for _, f := range forbidden {
		if level[f[1]] < level[f[0]] {
			t.Errorf("layers allow %s to import %s, which DESIGN.md forbids", f[0], f[1])
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	checked := 0
	for sc.Scan() {
		pkg, imports, _ := strings.Cut(sc.Text(), ":")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if pkg == module || strings.HasPrefix(rel, "test/") || rel == "test" {
			continue // the root holds only this test; test/ holds black-box tests
		}
		lv, ok := level[rel]
		if !ok {
			t.Errorf("package %s is not in the layer rules of deps_test.go", rel)
			continue
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			switch {
			case strings.HasPrefix(imp, module+"/"):
				dep := strings.TrimPrefix(imp, module+"/")
				dl, ok := level[dep]
				if !ok {
					t.Errorf("%s imports %s, which is not in the layer rules", rel, dep)
				} else if dl >= lv {
					t.Errorf("%s (layer %d) imports %s (layer %d): imports only go downward", rel, lv, dep, dl)
				}
				for _, f := range forbidden {
					if f[0] == rel && f[1] == dep {
						t.Errorf("%s must not import %s (DESIGN.md)", rel, dep)
					}
				}
			case strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
				allowed := slices.ContainsFunc(thirdParty[rel], func(m string) bool {
					return imp == m || strings.HasPrefix(imp, m+"/")
				})
				if !allowed {
					t.Errorf("%s imports third-party %s, which DESIGN.md does not allow it", rel, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package checked")
	}
}
