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

// Media is one RTP audio stream (RFC 3550, payload of RFC 3551): it sends
// a G.711 µ-law (PCMU, payload type 0) tone every 20 ms and counts what it
// receives. With Echo it sends back what it receives instead of the tone.
type Media struct {
	conn     *net.UDPConn
	remote   atomic.Pointer[netip.AddrPort]
	pt       uint8
	Echo     bool
	sent     atomic.Uint64
	received atomic.Uint64
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
	return &Media{conn: c}, nil
}

// LocalPort is the RTP port to put in SDP.
func (m *Media) LocalPort() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// Start sends to remote with payload type pt and receives until Stop.
// A second Start, or a Start after Stop, does nothing.
func (m *Media) Start(remote netip.AddrPort, pt uint8) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || m.stop != nil {
		return
	}
	m.remote.Store(&remote)
	m.pt = pt
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	m.wg.Go(func() { m.receive(ctx) })
	if !m.Echo {
		m.wg.Go(func() { m.send(ctx) })
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

func (m *Media) send(ctx context.Context) {
	const samples = 160 // 20 ms at 8 kHz
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: m.pt, SSRC: uint32(time.Now().UnixNano())}}
	payload := make([]byte, samples)
	buf := make([]byte, 0, 12+samples)
	var phase float64
	for seq := uint16(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for i := range payload {
			payload[i] = linearToULaw(int16(8000 * math.Sin(phase)))
			phase += 2 * math.Pi * 440 / 8000
		}
		p.SequenceNumber, p.Timestamp, p.Payload = seq, uint32(seq)*samples, payload
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
