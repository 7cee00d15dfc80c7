package procs

import (
	"context"
	"runtime"
	"time"
)

// Adapter adjusts GOMAXPROCS to the CPU the process uses, between 1 and
// Max. The zero value is ready to use; Run does the work.
type Adapter struct {
	// Max is the most Ps it sets; zero means GOMAXPROCS when Run starts
	// (the CPUs the process may use, cgroup limits included).
	Max int
	// Interval is how often it measures; zero means 250 ms.
	Interval time.Duration
	// OnChange, if set, is told of each change.
	OnChange func(from, to int)

	// cpuTime and setProcs are the process's CPU time and
	// runtime.GOMAXPROCS; tests replace them.
	cpuTime  func() (time.Duration, bool)
	setProcs func(int) int
}

// Thresholds of [Adapter]: it doubles the Ps when the process uses more
// than Up of them (in CPUs, averaged over an interval), and drops one when
// the remaining ones would be used less than Down.
const (
	Up   = 0.75
	Down = 0.5
)

// Next returns the P count that follows procs when the process used util
// CPUs over the last interval, at most max.
func Next(procs, max int, util float64) int {
	switch {
	case procs > max:
		return max
	case procs < max && util > Up*float64(procs):
		return min(2*procs, max)
	case procs > 1 && util < Down*float64(procs-1):
		return procs - 1
	}
	return procs
}

// Run sets GOMAXPROCS to 1 and then adapts it every Interval until ctx
// ends, when it restores the value it found. Where the process's CPU time
// cannot be read, it leaves GOMAXPROCS alone and returns at once.
func (a *Adapter) Run(ctx context.Context) {
	cpu, set := a.cpuTime, a.setProcs
	if cpu == nil {
		cpu = processCPU
	}
	if set == nil {
		set = runtime.GOMAXPROCS
	}
	last, ok := cpu()
	if !ok {
		return
	}
	max, every := a.Max, a.Interval
	if max <= 0 {
		max = set(0)
	}
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	initial := set(1)
	defer set(initial)
	procs := 1
	if a.OnChange != nil && initial != 1 {
		a.OnChange(initial, 1)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			used, _ := cpu()
			wall := now.Sub(lastAt)
			if wall <= 0 {
				continue
			}
			util := float64(used-last) / float64(wall)
			last, lastAt = used, now
			if next := Next(procs, max, util); next != procs {
				set(next)
				if a.OnChange != nil {
					a.OnChange(procs, next)
				}
				procs = next
			}
		}
	}
}
