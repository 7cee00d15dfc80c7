package ua

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

// RTP payload types of G.711 (RFC 3551 §6), the two that [Media] sends and
// records.
const (
	PCMU = 0 // G.711 µ-law
	PCMA = 8 // G.711 A-law
)

// FrameSamples is the number of samples in one RTP packet of [Media]:
// 20 ms at 8 kHz (the default packetization of RFC 3551 §4.5).
const FrameSamples = 160

// A Source gives the audio a [Media] sends. It fills frame (FrameSamples
// 16-bit linear samples at 8 kHz) with the next 20 ms and returns true, or
// returns false when it has no more audio, which ends the sending. It is
// called from the Media's sending goroutine only; a Source keeps its
// position, so give each Media its own.
type Source func(frame []int16) bool

// Tone is an endless sine of hz hertz at about -12 dBFS (amplitude 8000).
func Tone(hz float64) Source {
	var phase float64
	return func(frame []int16) bool {
		for i := range frame {
			frame[i] = int16(8000 * math.Sin(phase))
			phase += 2 * math.Pi * hz / 8000
		}
		return true
	}
}

// Samples plays pcm (8 kHz 16-bit linear) once; the last frame is padded
// with silence.
func Samples(pcm []int16) Source {
	pos := 0
	return func(frame []int16) bool {
		if pos >= len(pcm) {
			return false
		}
		n := copy(frame, pcm[pos:])
		clear(frame[n:])
		pos += len(frame)
		return true
	}
}

// Media is one G.711 RTP audio stream (RFC 3550, payload of RFC 3551): it
// sends a packet of [FrameSamples] every 20 ms from its Source, encoded as
// µ-law (PCMU) or A-law (PCMA) after the payload type it was started with,
// and counts the packets both ways. With Echo it sends back what it
// receives instead; with Record it hands on the audio it receives.
//
// Set Source, Echo and Record before Start.
type Media struct {
	// Source is the audio sent; nil means a 440 Hz [Tone].
	Source Source
	// Echo sends every RTP packet received back to where it came from,
	// instead of audio from Source.
	Echo bool
	// Record, if set, is given the audio of each PCMU or PCMA packet
	// received, decoded to 16-bit linear samples (other payload types are
	// counted but not decoded). It is called from the receiving goroutine;
	// pcm is reused after it returns.
	Record func(pcm []int16)

	conn     *net.UDPConn
	remote   atomic.Pointer[netip.AddrPort]
	pt       atomic.Uint32
	sent     atomic.Uint64
	received atomic.Uint64
	finished chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	stop     context.CancelFunc
	stopped  bool
}

// ListenMedia opens the local RTP socket on ip (port chosen by the system).
func ListenMedia(ip netip.Addr) (*Media, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, err
	}
	return &Media{conn: c, finished: make(chan struct{})}, nil
}

// LocalPort is the RTP port to put in SDP.
func (m *Media) LocalPort() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// Start sends to remote with payload type pt (PCMA is sent as A-law,
// anything else as µ-law) and receives until Stop. When the stream runs
// already, Start moves it to remote and pt (the answer of a re-INVITE, or
// the 200 after early media). A Start after Stop does nothing.
func (m *Media) Start(remote netip.AddrPort, pt uint8) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	m.remote.Store(&remote)
	m.pt.Store(uint32(pt))
	if m.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	m.wg.Go(func() { m.receive(ctx) })
	if !m.Echo {
		src := m.Source
		if src == nil {
			src = Tone(440)
		}
		m.wg.Go(func() { m.send(ctx, src) })
	}
}

// SetRemote moves the stream to a new remote address (a re-INVITE or
// UPDATE changed it).
func (m *Media) SetRemote(remote netip.AddrPort) { m.remote.Store(&remote) }

// Stop ends the stream and closes the socket. It may be called more than
// once.
func (m *Media) Stop() {
	m.mu.Lock()
	if !m.stopped {
		m.stopped = true
		if m.stop != nil {
			m.stop()
		}
		_ = m.conn.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Counts returns the RTP packets sent and received.
func (m *Media) Counts() (sent, received uint64) { return m.sent.Load(), m.received.Load() }

// Finished is closed when the Source has no more audio and the last packet
// has been sent. It is never closed for an endless Source, nor with Echo.
func (m *Media) Finished() <-chan struct{} { return m.finished }

func (m *Media) send(ctx context.Context, src Source) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: uint32(time.Now().UnixNano())}}
	pcm := make([]int16, FrameSamples)
	payload := make([]byte, FrameSamples)
	buf := make([]byte, 0, 12+FrameSamples)
	for seq := uint16(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !src(pcm) {
			close(m.finished)
			return
		}
		pt := uint8(m.pt.Load())
		for i, s := range pcm {
			if pt == PCMA {
				payload[i] = linearToALaw(s)
			} else {
				payload[i] = linearToULaw(s)
			}
		}
		p.PayloadType, p.SequenceNumber, p.Timestamp, p.Payload = pt, seq, uint32(seq)*FrameSamples, payload
		p.Marker = seq == 0 // the start of a talkspurt (RFC 3551 §4.1)
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

func (m *Media) receive(ctx context.Context) {
	buf := make([]byte, 1500)
	var pcm []int16
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
		if m.Record != nil && (p.PayloadType == PCMU || p.PayloadType == PCMA) {
			pcm = pcm[:0]
			for _, b := range p.Payload {
				if p.PayloadType == PCMA {
					pcm = append(pcm, aLawToLinear(b))
				} else {
					pcm = append(pcm, uLawToLinear(b))
				}
			}
			m.Record(pcm)
		}
		if m.Echo {
			if _, err := m.conn.WriteToUDPAddrPort(buf[:n], from); err == nil {
				m.sent.Add(1)
			}
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
