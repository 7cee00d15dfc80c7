//go:build !linux

package transport

import (
	"net"
	"net/netip"
)

// rawUDP is Linux only (see udpraw_linux.go); elsewhere the net package's
// reads and writes are used.
type rawUDP struct{}

type udpOp struct{}

func newRawUDP(*net.UDPConn) *rawUDP { return nil }

func newReadOp([]byte) *udpOp { return nil }

func (*rawUDP) readFrom(*udpOp) (int, netip.AddrPort, error) { panic("unreachable") }

func (*rawUDP) writeTo([]byte, netip.AddrPort) (bool, error) { return false, nil }
