package ua

import (
	"fmt"
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// G.711 quantisation: a decoded sample is within half a step of the input;
// steps grow with the segment, so the error is bounded relative to |x|.
func TestG711RoundTrip(t *testing.T) {
	for x := -32768; x <= 32767; x += 7 {
		s := int16(x)
		for name, rt := range map[string]func(int16) int16{
			"µ-law": func(s int16) int16 { return uLawToLinear(linearToULaw(s)) },
			"A-law": func(s int16) int16 { return aLawToLinear(linearToALaw(s)) },
		} {
			got := rt(s)
			tol := max(40, math.Abs(float64(x))/16)
			if d := math.Abs(float64(got) - float64(x)); d > tol {
				t.Fatalf("%s: %d decodes to %d (error %.0f > %.0f)", name, x, got, d, tol)
			}
		}
	}
	// Known code points (ITU-T G.711): µ-law 0 is 0xff, A-law 0 is 0xd5.
	if linearToULaw(0) != 0xff || linearToALaw(0) != 0xd5 {
		t.Errorf("silence encodes as µ 0x%02x, A 0x%02x", linearToULaw(0), linearToALaw(0))
	}
}

func TestSamplesSource(t *testing.T) {
	pcm := make([]int16, FrameSamples+10)
	for i := range pcm {
		pcm[i] = int16(i + 1)
	}
	src := Samples(pcm)
	frame := make([]int16, FrameSamples)
	for i := range frame {
		frame[i] = -1
	}
	if !src(frame) || frame[0] != 1 || frame[FrameSamples-1] != FrameSamples {
		t.Fatalf("first frame: %v", frame[:3])
	}
	if !src(frame) || frame[9] != FrameSamples+10 || frame[10] != 0 || frame[FrameSamples-1] != 0 {
		t.Fatalf("last frame not the rest padded with silence: %v", frame[:12])
	}
	if src(frame) {
		t.Fatal("the source went on after its samples")
	}
}

// sink is a Media.Record that keeps what it is given.
type sink struct {
	mu  sync.Mutex
	pcm []int16
}

func (s *sink) add(pcm []int16) { s.mu.Lock(); s.pcm = append(s.pcm, pcm...); s.mu.Unlock() }
func (s *sink) get() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.pcm...)
}

// Two streams on loopback: one plays samples, the other records; what
// arrives is the input within G.711 quantisation (so it was encoded with
// the payload type the stream was started with), and the player reports
// the end of its samples. A second Start moves a running stream.
func TestMediaPlaysSamples(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name  string
		pt    uint8
		moved bool
	}{{"PCMU", PCMU, false}, {"PCMA", PCMA, false}, {"PCMA after a move", PCMA, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := ListenMedia(lo)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Stop()
			var got sink
			rec.Record = got.add
			play, err := ListenMedia(lo)
			if err != nil {
				t.Fatal(err)
			}
			defer play.Stop()
			pcm := make([]int16, 8*FrameSamples) // 160 ms
			for i := range pcm {
				pcm[i] = int16(10000 * math.Sin(float64(i)*2*math.Pi*1000/8000))
			}
			play.Source = Samples(pcm)
			rec.Start(netip.AddrPortFrom(lo, uint16(play.LocalPort())), tc.pt)
			if tc.moved {
				// Started towards a port nobody reads, with the other
				// law, then moved before its first packet (20 ms).
				play.Start(netip.AddrPortFrom(lo, 9), PCMU)
			}
			play.Start(netip.AddrPortFrom(lo, uint16(rec.LocalPort())), tc.pt)
			select {
			case <-play.Finished():
			case <-time.After(5 * time.Second):
				t.Fatal("the samples were not all sent")
			}
			deadline := time.Now().Add(2 * time.Second)
			for len(got.get()) < len(pcm) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			g := got.get()
			if len(g) != len(pcm) {
				t.Fatalf("recorded %d samples, want %d", len(g), len(pcm))
			}
			for i := range g {
				if d := math.Abs(float64(g[i]) - float64(pcm[i])); d > 400 {
					t.Fatalf("sample %d: %d, sent %d", i, g[i], pcm[i])
				}
			}
			if s, _ := play.Counts(); s != 8 {
				t.Errorf("sent %d packets, want 8", s)
			}
			if _, r := rec.Counts(); r != 8 {
				t.Errorf("received %d packets, want 8", r)
			}
		})
	}
}

// A stream playing 100 ms of audio to one recording it.
func ExampleMedia() {
	lo := netip.MustParseAddr("127.0.0.1")
	rec, err := ListenMedia(lo)
	if err != nil {
		panic(err)
	}
	defer rec.Stop()
	var mu sync.Mutex
	received := 0
	rec.Record = func(pcm []int16) { mu.Lock(); received += len(pcm); mu.Unlock() }

	play, err := ListenMedia(lo)
	if err != nil {
		panic(err)
	}
	defer play.Stop()
	play.Source = Samples(make([]int16, 800)) // 100 ms of silence

	rec.Start(netip.AddrPortFrom(lo, uint16(play.LocalPort())), PCMA)
	play.Start(netip.AddrPortFrom(lo, uint16(rec.LocalPort())), PCMA)
	<-play.Finished()
	for range 100 { // the last packet is on its way
		mu.Lock()
		n := received
		mu.Unlock()
		if n == 800 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent, _ := play.Counts()
	mu.Lock()
	fmt.Println("packets sent:", sent, "samples received:", received)
	mu.Unlock()
	// Output: packets sent: 5 samples received: 800
}
