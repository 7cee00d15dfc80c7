package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// maxWAVBytes bounds the audio a WAV file may hold (about 65 minutes of
// 8 kHz 16-bit mono), so that a huge file is refused rather than read.
const maxWAVBytes = 64 << 20

// readWAV reads a RIFF WAVE file of 8 kHz, 16-bit, mono linear PCM — what
// G.711 carries (ITU-T G.711, RFC 3551 §4.5.14) — and returns its samples.
// Anything else gets an error saying what the file holds and what is
// wanted.
func readWAV(name string) ([]int16, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples, err := parseWAV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return samples, nil
}

func parseWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, errors.New("not a WAV file (too short for a RIFF header)")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, errors.New("not a WAV file (no RIFF/WAVE header)")
	}
	var haveFmt bool
	for range 64 { // chunks before "data" are few (fmt, LIST, fact…)
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if haveFmt {
				return nil, errors.New("WAV file has no data chunk")
			}
			return nil, errors.New("WAV file has no fmt chunk")
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("WAV fmt chunk of %d bytes", size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, errors.New("WAV fmt chunk truncated")
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			channels := binary.LittleEndian.Uint16(b[2:4])
			rate := binary.LittleEndian.Uint32(b[4:8])
			bits := binary.LittleEndian.Uint16(b[14:16])
			if format == 0xFFFE && size >= 40 { // WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes
				format = binary.LittleEndian.Uint16(b[24:26])
			}
			if format != 1 || channels != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("WAV is %s, %d channel(s), %d Hz, %d-bit; want PCM, 1 channel (mono), 8000 Hz, 16-bit (e.g. sox in.wav -r 8000 -c 1 -b 16 -e signed-integer out.wav)",
					wavFormatName(format), channels, rate, bits)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("WAV data chunk before its fmt chunk")
			}
			n := int64(size)
			if size == math.MaxUint32 || n > maxWAVBytes {
				n = maxWAVBytes // streamed files leave the size unset
			}
			b, err := io.ReadAll(io.LimitReader(r, n))
			if err != nil {
				return nil, err
			}
			if len(b) < 2 {
				return nil, errors.New("WAV file holds no audio")
			}
			out := make([]int16, len(b)/2)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return out, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, fmt.Errorf("WAV %q chunk truncated", id)
			}
		}
	}
	return nil, errors.New("WAV file has too many chunks before its data")
}

func wavFormatName(f uint16) string {
	switch f {
	case 1:
		return "PCM"
	case 3:
		return "IEEE float"
	case 6:
		return "A-law"
	case 7:
		return "µ-law"
	}
	return fmt.Sprintf("format %d", f)
}

// writeWAV encodes samples as an 8 kHz 16-bit mono PCM WAV file.
func writeWAV(w io.Writer, samples []int16) error {
	data := 2 * len(samples)
	b := make([]byte, 44+data)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)      // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)      // mono
	binary.LittleEndian.PutUint32(b[24:], 8000)   // sample rate
	binary.LittleEndian.PutUint32(b[28:], 2*8000) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)      // block align
	binary.LittleEndian.PutUint16(b[34:], 16)     // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	_, err := w.Write(b)
	return err
}
