package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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

func wavHeader(format, channels uint16, rate uint32, bits uint16) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF\x00\x00\x00\x00WAVEfmt ")
	_ = binary.Write(&b, binary.LittleEndian, uint32(16))
	for _, v := range []any{format, channels, rate, rate * uint32(channels) * uint32(bits/8), channels * bits / 8, bits} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data\x04\x00\x00\x00\x01\x00\x02\x00")
	return b.Bytes()
}

func TestParseWAV(t *testing.T) {
	samples := []int16{0, 1000, -1000, 32767, -32768}
	var b bytes.Buffer
	if err := writeWAV(&b, samples); err != nil {
		t.Fatal(err)
	}
	// A LIST chunk before the data is skipped.
	withList := append(append(append([]byte{}, b.Bytes()[:36]...), "LIST\x03\x00\x00\x00abc\x00"...), b.Bytes()[36:]...)
	for _, in := range [][]byte{b.Bytes(), withList} {
		got, err := parseWAV(bytes.NewReader(in))
		if err != nil || len(got) != len(samples) {
			t.Fatalf("parse: %v, %v", got, err)
		}
		for i := range got {
			if got[i] != samples[i] {
				t.Fatalf("sample %d: %d, want %d", i, got[i], samples[i])
			}
		}
	}
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("RIFF"), "too short"},
		{[]byte("RIFF\x00\x00\x00\x00AVI LIST"), "no RIFF/WAVE header"},
		{wavHeader(1, 2, 8000, 16), "2 channel(s)"},
		{wavHeader(1, 1, 44100, 16), "44100 Hz"},
		{wavHeader(1, 1, 8000, 8), "8-bit"},
		{wavHeader(3, 1, 8000, 32), "IEEE float"},
		{wavHeader(7, 1, 8000, 8), "µ-law"},
		{[]byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00"), "data chunk before its fmt chunk"},
		{wavHeader(1, 1, 8000, 16)[:36], "no data chunk"},
	} {
		_, err := parseWAV(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.in, err, tc.want)
		}
	}
	if _, err := readWAV(filepath.Join(t.TempDir(), "missing.wav")); err == nil {
		t.Error("a missing file gave no error")
	}
}

// Two streams on loopback: one plays samples (µ-law), the other records;
// what arrives is the input within G.711 quantisation, and the player
// reports the end of its samples.
func TestRTPStreamPlaysSamples(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	rec, err := listenRTP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.stop()
	rec.record = true
	play, err := listenRTP(lo)
	if err != nil {
		t.Fatal(err)
	}
	defer play.stop()
	play.samples = make([]int16, 8*160) // 160 ms
	for i := range play.samples {
		play.samples[i] = int16(10000 * math.Sin(float64(i)*2*math.Pi*1000/8000))
	}
	rec.start(netip.AddrPortFrom(lo, uint16(play.port())), ptPCMU)
	play.start(netip.AddrPortFrom(lo, uint16(rec.port())), ptPCMU)
	select {
	case <-play.finished:
	case <-time.After(5 * time.Second):
		t.Fatal("the samples were not all sent")
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(rec.recordedAudio()) < len(play.samples) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := rec.recordedAudio()
	if len(got) != len(play.samples) {
		t.Fatalf("recorded %d samples, want %d", len(got), len(play.samples))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(play.samples[i])); d > 400 {
			t.Fatalf("sample %d: %d, sent %d", i, got[i], play.samples[i])
		}
	}
	if s, _ := play.counts(); s != 8 {
		t.Errorf("sent %d packets, want 8", s)
	}
}

func TestWriteWAVFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.wav")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeWAV(f, []int16{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := readWAV(name)
	if err != nil || len(got) != 3 || got[2] != 3 {
		t.Fatalf("%v %v", got, err)
	}
}
