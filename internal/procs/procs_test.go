package procs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		procs, max int
		util       float64
		want       int
	}{
		{1, 2, 0.2, 1},  // light: stay on one P
		{1, 2, 0.74, 1}, // under Up
		{1, 2, 0.8, 2},  // busy: double
		{1, 8, 0.95, 2}, // doubling, one step per interval
		{4, 8, 3.5, 8},  // 4 Ps busy: 8
		{4, 6, 3.5, 6},  // capped at max
		{2, 2, 1.9, 2},  // at max already
		{2, 2, 0.6, 2},  // one P would be over Down: stay
		{2, 2, 0.4, 1},  // one P would do
		{8, 8, 3.0, 7},  // one fewer at a time
		{8, 8, 3.6, 8},  // 7 would be used more than Down: stay
		{1, 1, 5, 1},    // never above max
		{4, 2, 0.1, 2},  // above max (max lowered): max
		{1, 2, 0, 1},    // idle
		{2, 4, 0.75, 2}, // hysteresis band: neither
		{2, 4, 1.51, 4}, // over Up·2
		{3, 4, 0.99, 2}, // under Down·2
		{3, 4, 1.01, 3}, // over Down·2, under Up·3
	} {
		if got := Next(tc.procs, tc.max, tc.util); got != tc.want {
			t.Errorf("Next(%d, %d, %v) = %d, want %d", tc.procs, tc.max, tc.util, got, tc.want)
		}
	}
}

// TestAdapterRun: on a fake clock, a process whose load rises from 0.2 to
// 1.0 CPU and falls to 0.1 again gets 1 P, then 2, then 1; the P count it
// found is restored when ctx ends.
func TestAdapterRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		// load(t) is the CPUs used at t since start; cpu integrates it.
		load := func(d time.Duration) float64 {
			switch {
			case d < 2*time.Second:
				return 0.2
			case d < 4*time.Second:
				return 1.0
			}
			return 0.1
		}
		var mu sync.Mutex
		var used time.Duration
		lastAt := start
		cpu := func() (time.Duration, bool) {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			for at := lastAt; at.Before(now); at = at.Add(time.Millisecond) {
				used += time.Duration(load(at.Sub(start)) * float64(time.Millisecond))
			}
			lastAt = now
			return used, true
		}
		procs := 4
		var sets []int
		set := func(n int) int {
			mu.Lock()
			defer mu.Unlock()
			old := procs
			if n > 0 {
				procs = n
				sets = append(sets, n)
			}
			return old
		}
		current := func() int {
			mu.Lock()
			defer mu.Unlock()
			return procs
		}
		var changes [][2]int
		a := &Adapter{Max: 2, Interval: 100 * time.Millisecond, cpuTime: cpu, setProcs: set,
			OnChange: func(from, to int) {
				mu.Lock()
				defer mu.Unlock()
				changes = append(changes, [2]int{from, to})
			}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()

		time.Sleep(time.Second)
		synctest.Wait()
		if got := current(); got != 1 {
			t.Errorf("light load: GOMAXPROCS %d, want 1", got)
		}
		time.Sleep(2 * time.Second) // into the busy part
		synctest.Wait()
		if got := current(); got != 2 {
			t.Errorf("busy: GOMAXPROCS %d, want 2", got)
		}
		time.Sleep(2 * time.Second) // light again
		synctest.Wait()
		if got := current(); got != 1 {
			t.Errorf("light again: GOMAXPROCS %d, want 1", got)
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if procs != 4 {
			t.Errorf("after Run: GOMAXPROCS %d, want the 4 it found", procs)
		}
		if want := []int{1, 2, 1, 4}; !slices.Equal(sets, want) {
			t.Errorf("GOMAXPROCS set to %v, want %v", sets, want)
		}
		if want := [][2]int{{4, 1}, {1, 2}, {2, 1}}; !slices.Equal(changes, want) {
			t.Errorf("changes %v, want %v", changes, want)
		}
	})
}

// TestAdapterNoCPUTime: where the CPU time cannot be read, Run returns at
// once and leaves GOMAXPROCS alone.
func TestAdapterNoCPUTime(t *testing.T) {
	called := false
	a := &Adapter{cpuTime: func() (time.Duration, bool) { return 0, false }, setProcs: func(int) int { called = true; return 1 }}
	a.Run(t.Context())
	if called {
		t.Error("GOMAXPROCS changed without a CPU time to go by")
	}
}

// TestProcessCPU: the real CPU time reading grows with work done.
func TestProcessCPU(t *testing.T) {
	before, ok := processCPU()
	if !ok {
		t.Fatal("no CPU time on this platform")
	}
	x := 0
	for i := range 50_000_000 {
		x ^= i * i
	}
	after, _ := processCPU()
	if after <= before {
		t.Errorf("CPU time %v then %v (x=%d)", before, after, x)
	}
}
