package main

import (
	"context"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// RTP payload types of G.711 (RFC 3551 §6).
const (
	ptPCMU = 0
	ptPCMA = 8
)

// maxRecord bounds what --record keeps: ten minutes of 8 kHz audio.
const maxRecord = 10 * 60 * 8000

// rtpStream is one G.711 RTP audio stream (RFC 3550, RFC 3551): it sends
// 20 ms packets from its samples (a tone, or a WAV file played once) or,
// with echo, sends back what it receives; it counts packets both ways and
// can keep the received audio.
type rtpStream struct {
	conn    *net.UDPConn
	samples []int16 // nil: a 440 Hz tone
	echo    bool
	record  bool

	remote   atomic.Pointer[netip.AddrPort]
	pt       atomic.Uint32
	sent     atomic.Uint64
	received atomic.Uint64
	finished chan struct{} // closed when the samples have all been sent

	mu       sync.Mutex
	recorded []int16

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	wg                  sync.WaitGroup
}

func listenRTP(ip netip.Addr) (*rtpStream, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	return &rtpStream{conn: c, finished: make(chan struct{})}, nil
}

// port is the RTP port to put in SDP.
func (m *rtpStream) port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// start begins sending to remote with payload type pt (or moves the
// stream there when it runs already: a re-INVITE, or the 200 after early
// media).
func (m *rtpStream) start(remote netip.AddrPort, pt uint8) {
	m.remote.Store(&remote)
	m.pt.Store(uint32(pt))
	m.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		m.wg.Go(func() { m.receive(ctx) })
		if !m.echo {
			m.wg.Go(func() { m.send(ctx) })
		}
	})
}

// stop ends the stream and closes the socket.
func (m *rtpStream) stop() {
	m.stopOnce.Do(func() {
		m.startOnce.Do(func() {}) // a stream never started stays so
		if m.cancel != nil {
			m.cancel()
		}
		_ = m.conn.Close()
		m.wg.Wait()
	})
}

func (m *rtpStream) counts() (sent, received uint64) { return m.sent.Load(), m.received.Load() }

// recordedAudio returns the audio received so far, decoded.
func (m *rtpStream) recordedAudio() []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int16(nil), m.recorded...)
}

func (m *rtpStream) send(ctx context.Context) {
	const frame = 160 // 20 ms at 8 kHz
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(time.Now().UnixNano())}}
	pcm := make([]int16, frame)
	payload := make([]byte, frame)
	buf := make([]byte, 0, 12+frame)
	var phase float64
	pos := 0
	for seq := uint16(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if m.samples != nil {
			if pos >= len(m.samples) {
				close(m.finished)
				return
			}
			n := copy(pcm, m.samples[pos:])
			clear(pcm[n:])
			pos += frame
		} else {
			for i := range pcm {
				pcm[i] = int16(8000 * math.Sin(phase))
				phase += 2 * math.Pi * 440 / 8000
			}
		}
		pt := uint8(m.pt.Load())
		for i, s := range pcm {
			if pt == ptPCMA {
				payload[i] = linearToALaw(s)
			} else {
				payload[i] = linearToULaw(s)
			}
		}
		p.PayloadType, p.SequenceNumber, p.Timestamp, p.Payload = pt, seq, uint32(seq)*frame, payload
		p.Marker = seq == 0
		n, err := p.Header.MarshalTo(buf[:12])
		if err != nil {
			return
		}
		b := append(buf[:n], payload...)
		if _, err := m.conn.WriteToUDPAddrPort(b, *m.remote.Load()); err == nil {
			m.sent.Add(1)
		}
	}
}

func (m *rtpStream) receive(ctx context.Context) {
	buf := make([]byte, 1500)
	for ctx.Err() == nil {
		_ = m.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			continue
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.Version != 2 {
			continue // not RTP
		}
		m.received.Add(1)
		if m.record {
			m.keep(p.PayloadType, p.Payload)
		}
		if m.echo {
			if _, err := m.conn.WriteToUDPAddrPort(buf[:n], from); err == nil {
				m.sent.Add(1)
			}
		}
	}
}

func (m *rtpStream) keep(pt uint8, payload []byte) {
	if pt != ptPCMU && pt != ptPCMA {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range payload {
		if len(m.recorded) >= maxRecord {
			return
		}
		if pt == ptPCMA {
			m.recorded = append(m.recorded, aLawToLinear(b))
		} else {
			m.recorded = append(m.recorded, uLawToLinear(b))
		}
	}
}

// linearToULaw encodes one 16-bit sample as G.711 µ-law (ITU-T G.711).
func linearToULaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// uLawToLinear decodes one G.711 µ-law byte.
func uLawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0f)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// linearToALaw encodes one 16-bit sample as G.711 A-law.
func linearToALaw(s int16) byte {
	x := int(s) >> 3 // A-law works on 13 bits
	mask := byte(0xd5)
	if x < 0 {
		mask = 0x55
		x = -x - 1
	}
	seg := 0
	for end := 0x1f; seg < 8 && x > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7f ^ mask
	}
	var a int
	if seg < 2 {
		a = x >> 1 & 0x0f
	} else {
		a = x >> seg & 0x0f
	}
	return byte(seg<<4|a) ^ mask
}

// aLawToLinear decodes one G.711 A-law byte.
func aLawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0f) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
