package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

// The --record sink keeps what it is given, up to maxRecord samples.
func TestRecorder(t *testing.T) {
	var r recorder
	r.add([]int16{1, 2, 3})
	if got := r.audio(); len(got) != 3 || got[2] != 3 {
		t.Fatalf("kept %v", got)
	}
	r.add(make([]int16, maxRecord))
	if got := r.audio(); len(got) != maxRecord || got[0] != 1 {
		t.Fatalf("kept %d samples, want %d", len(got), maxRecord)
	}
	r.add([]int16{4})
	if len(r.audio()) != maxRecord {
		t.Fatal("kept more than maxRecord")
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
