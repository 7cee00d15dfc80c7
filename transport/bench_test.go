package transport

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/parleysip/parley/sip"
)

// answer200 makes l answer every request with a bare 200.
func answer200(l *Layer) {
	l.Handler = func(in Incoming) {
		if req, ok := in.Message.(*sip.Request); ok {
			l.SendResponse(context.Background(), sip.NewResponse(req, sip.StatusOK), in.Flow)
		}
	}
}

// BenchmarkUDPEcho measures one request/response round trip through a
// UDP listener: receive, parse, Via processing, handler, encode, send.
func BenchmarkUDPEcho(b *testing.B) {
	server := newLayer(b)
	answer200(server)
	addr := listen(b, server, UDP, "127.0.0.1:0")
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := rawRequest("SIP/2.0/UDP "+c.LocalAddr().String()+";branch=z9hG4bKbench;rport", "bench@127.0.0.1", "")
	buf := make([]byte, 65536)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkTCPConns1000 keeps 1,000 TCP connections open and, per
// iteration, has every one of them do a request/response round trip
// concurrently.
func BenchmarkTCPConns1000(b *testing.B) {
	const conns = 1000
	server := newLayer(b)
	server.Limits.MaxConnsPerIP = 2 * conns
	answer200(server)
	addr := listen(b, server, TCP, "127.0.0.1:0")
	start := make([]chan struct{}, conns)
	var wg, workers sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start[i] = make(chan struct{})
		req := rawRequest(fmt.Sprintf("SIP/2.0/TCP %s;branch=z9hG4bKb%d", c.LocalAddr(), i), fmt.Sprintf("bench%d", i), "")
		workers.Go(func() {
			br := bufio.NewReader(c)
			for range start[i] {
				_, err := c.Write(req)
				if err == nil {
					_, err = readStatus(br)
				}
				if err != nil {
					errs <- err
				}
				wg.Done()
			}
		})
	}
	defer workers.Wait()
	defer func() {
		for _, ch := range start {
			close(ch)
		}
	}()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		wg.Add(conns)
		for _, ch := range start {
			ch <- struct{}{}
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		n += conns
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkUDPReceive measures what the target is about: requests
// received over UDP and parsed (socket read, STUN/keep-alive check, parse,
// §18.2.1 Via processing) up to the Handler, per message. A second
// goroutine sends in windows of 64 and waits for them to arrive, so the
// socket buffer never overflows.
func BenchmarkUDPReceive(b *testing.B) {
	server := newLayer(b)
	got := make(chan struct{}, 1024)
	server.Handler = func(Incoming) { got <- struct{}{} }
	addr := listen(b, server, UDP, "127.0.0.1:0")
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := rawRequest("SIP/2.0/UDP "+c.LocalAddr().String()+";branch=z9hG4bKbench;rport", "bench@127.0.0.1", "")
	const window = 64
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for range window {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
		}
		for range window {
			<-got
		}
		n += window
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op") // per-window time is not meaningful; see msgs/s
}
