package main

import "sync"

// maxRecord bounds what --record keeps: ten minutes of 8 kHz audio.
const maxRecord = 10 * 60 * 8000

// recorder keeps the audio a call receives (ua.Media.Record) for
// --record, up to maxRecord samples.
type recorder struct {
	mu      sync.Mutex
	samples []int16
}

// add is the ua.Media.Record sink.
func (r *recorder) add(pcm []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(len(pcm), maxRecord-len(r.samples))
	r.samples = append(r.samples, pcm[:n]...)
}

// audio returns the audio received so far.
func (r *recorder) audio() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.samples...)
}
