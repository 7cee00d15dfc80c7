// Command benchcmp runs the Parley-versus-sipgo codec benchmarks of this
// module and prints a comparison table of the medians.
//
// Usage (from bench/, or `make bench` at the repository root):
//
//	go run ./cmd/benchcmp [-count N] [-benchtime D] [-filter REGEXP] [-dir DIR]
//
// It runs
//
//	go test -run '^$' -bench REGEXP -benchmem -count N [-benchtime D] .
//
// in DIR, takes the median of each metric over the N runs of every
// benchmark, and prints, per fixture and operation, ns/op, B/op and
// allocs/op for both libraries with the ratios sipgo/parley (above 1 means
// Parley is faster or allocates less). The raw `go test` lines the figures
// come from are printed after the table so they can be cited. The exit
// status is non-zero if `go test` fails or reports no benchmarks.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// libs are the two libraries compared; the ratio is libs[1]/libs[0].
var libs = [2]string{"parley", "sipgo"}

// fixtureOrder and opOrder fix the table's row order; anything else the
// benchmarks report comes after, sorted.
var (
	fixtureOrder = []string{"invite470", "register", "response3via", "invite1500"}
	opOrder      = []string{"parse", "encode"}
)

func main() {
	count := flag.Int("count", 5, "runs of each benchmark (go test -count)")
	benchtime := flag.String("benchtime", "", "go test -benchtime, e.g. 2s or 100000x (default: go test's)")
	filter := flag.String("filter", ".", "benchmark regexp (go test -bench)")
	dir := flag.String("dir", ".", "directory of the bench module")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "benchcmp: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	if *count < 1 {
		fmt.Fprintln(os.Stderr, "benchcmp: -count must be at least 1")
		os.Exit(2)
	}
	os.Exit(run(*dir, *count, *benchtime, *filter))
}

func run(dir string, count int, benchtime, filter string) int {
	args := []string{"test", "-run", "^$", "-bench", filter, "-benchmem", "-count", strconv.Itoa(count)}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	args = append(args, ".")
	cmdline := "go " + shellJoin(args)
	fmt.Fprintf(os.Stderr, "benchcmp: running %s (in %s)\n", cmdline, dir)

	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		os.Stdout.Write(out.Bytes())
		fmt.Fprintf(os.Stderr, "benchcmp: %s: %v\n", cmdline, err)
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		return 1
	}

	res, raw := parse(&out)
	if len(res) == 0 {
		os.Stdout.Write(out.Bytes())
		fmt.Fprintf(os.Stderr, "benchcmp: no benchmark results (filter %q)\n", filter)
		return 1
	}
	fmt.Printf("Parley vs sipgo codec benchmarks: median of %d run(s) each\n", count)
	fmt.Printf("command: %s\n\n", cmdline)
	printTable(os.Stdout, res)
	fmt.Printf("\nRaw go test output used:\n\n")
	for _, l := range raw {
		fmt.Println(l)
	}
	return 0
}

// key identifies one benchmark: Benchmark<Op>/<lib>/<fixture>.
type key struct{ op, lib, fixture string }

// samples are the per-run values of one benchmark, by unit ("ns/op",
// "B/op", "allocs/op", ...).
type samples map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output. It returns the samples of every
// benchmark named Benchmark<Op>/<lib>/<fixture> and the raw lines used:
// the goos/goarch/pkg/cpu preamble and the benchmark result lines.
func parse(r io.Reader) (map[key]samples, []string) {
	res := make(map[key]samples)
	var raw []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"goos:", "goarch:", "pkg:", "cpu:"} {
			if strings.HasPrefix(line, p) {
				raw = append(raw, line)
			}
		}
		f := strings.Fields(line)
		// name iterations value unit [value unit ...]
		if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		parts := strings.Split(procSuffix.ReplaceAllString(f[0], ""), "/")
		if len(parts) != 3 {
			continue
		}
		k := key{
			op:      strings.ToLower(strings.TrimPrefix(parts[0], "Benchmark")),
			lib:     parts[1],
			fixture: parts[2],
		}
		s := res[k]
		if s == nil {
			s = make(samples)
			res[k] = s
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s[f[i+1]] = append(s[f[i+1]], v)
		}
		raw = append(raw, line)
	}
	return res, raw
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func printTable(w io.Writer, res map[key]samples) {
	type row struct{ fixture, op string }
	seen := make(map[row]bool)
	var rows []row
	for k := range res {
		r := row{k.fixture, k.op}
		if !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	rank := func(order []string, s string) int {
		if i := slices.Index(order, s); i >= 0 {
			return i
		}
		return len(order)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ra, rb := rank(fixtureOrder, a.fixture), rank(fixtureOrder, b.fixture); ra != rb {
			return ra < rb
		}
		if a.fixture != b.fixture {
			return a.fixture < b.fixture
		}
		if ra, rb := rank(opOrder, a.op), rank(opOrder, b.op); ra != rb {
			return ra < rb
		}
		return a.op < b.op
	})

	header := []string{
		"fixture", "op",
		"parley ns/op", "sipgo ns/op", "speed x",
		"parley B/op", "parley allocs/op",
		"sipgo B/op", "sipgo allocs/op", "allocs x",
	}
	table := [][]string{header}
	for _, r := range rows {
		var ns, bytes, allocs [2]float64
		for i, lib := range libs {
			s := res[key{r.op, lib, r.fixture}]
			ns[i] = median(s["ns/op"])
			bytes[i] = median(s["B/op"])
			allocs[i] = median(s["allocs/op"])
		}
		table = append(table, []string{
			r.fixture, r.op,
			num(ns[0]), num(ns[1]), ratio(ns[1], ns[0]),
			num(bytes[0]), num(allocs[0]),
			num(bytes[1]), num(allocs[1]), ratio(allocs[1], allocs[0]),
		})
	}

	width := make([]int, len(header))
	for _, row := range table {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	for n, row := range table {
		var b strings.Builder
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(c))
			if i < 2 { // text columns left-aligned, numbers right-aligned
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if n == 0 {
			total := len(width)*2 - 2
			for _, x := range width {
				total += x
			}
			fmt.Fprintln(w, strings.Repeat("-", total))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "speed x  = sipgo ns/op / parley ns/op (above 1: Parley faster)")
	fmt.Fprintln(w, "allocs x = sipgo allocs/op / parley allocs/op (above 1: Parley allocates less often)")
}

// num formats a median: integers as such, small values with one decimal.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v == math.Trunc(v) || v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// ratio formats a/b.
func ratio(a, b float64) string {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return "-"
	case b == 0 && a == 0:
		return "="
	case b == 0:
		return "inf"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "x"
}

// shellJoin quotes args for display as a shell command line.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]^|&;<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
