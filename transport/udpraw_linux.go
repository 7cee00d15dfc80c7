package transport

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP reads and writes the datagrams of a UDP socket with raw system
// calls, through its syscall.RawConn (so the runtime's poller still waits
// for readiness and a close is still safe).
//
// Why: net.UDPConn's ReadFrom and WriteTo enter the runtime's syscall
// state (syscall.Syscall), and entering it wakes the runtime's sysmon
// thread whenever the process was idle; sysmon then polls every 20 µs for
// a millisecond before it backs off. A SIP server at a few hundred calls a
// second goes idle between most datagrams, so that cycle ran hundreds of
// times a second: perf showed sysmon's sleeps and wake-ups at 16% of the
// CPU of parley serve proxying 200 calls/s. recvfrom and sendto on a
// non-blocking socket return at once (EAGAIN when they would block, and
// the poller waits then), so they need none of what the syscall state is
// for.
type rawUDP struct {
	rc    syscall.RawConn
	inet6 bool // an AF_INET6 socket (IPv4 peers as mapped addresses)
}

// newRawUDP returns the raw access to c, or nil where it cannot be had.
func newRawUDP(c *net.UDPConn) *rawUDP {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawUDP{rc: rc}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		sa, err := syscall.Getsockname(int(fd))
		switch sa.(type) {
		case *syscall.SockaddrInet4:
			ok = err == nil
		case *syscall.SockaddrInet6:
			r.inet6, ok = true, err == nil
		}
	})
	if !ok {
		return nil
	}
	return r
}

// udpOp is the state of one raw read or write; its methods are bound once
// (fn), so that passing them to the RawConn allocates nothing.
type udpOp struct {
	b     []byte
	sa    syscall.RawSockaddrAny
	salen uint32
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func (op *udpOp) recv(fd uintptr) bool {
	op.salen = uint32(unsafe.Sizeof(op.sa))
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)), 0,
		uintptr(unsafe.Pointer(&op.sa)), uintptr(unsafe.Pointer(&op.salen)))
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return false // the poller waits for a datagram
	}
	op.n, op.errno = int(n), e
	return true
}

func (op *udpOp) send(fd uintptr) bool {
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)), 0,
		uintptr(unsafe.Pointer(&op.sa)), uintptr(op.salen))
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return false // the poller waits for room
	}
	op.errno = e
	return true
}

// newReadOp returns the op of a read loop, reading into buf.
func newReadOp(buf []byte) *udpOp {
	op := &udpOp{b: buf}
	op.fn = op.recv
	return op
}

// readFrom reads one datagram into op.b.
func (r *rawUDP) readFrom(op *udpOp) (int, netip.AddrPort, error) {
	if err := r.rc.Read(op.fn); err != nil {
		return 0, netip.AddrPort{}, err
	}
	if op.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: syscall.Errno(op.errno)}
	}
	switch op.sa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&op.sa))
		return op.n, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), nil
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&op.sa))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(zoneName(sa.Scope_id))
		}
		return op.n, netip.AddrPortFrom(a, ntohs(sa.Port)), nil
	}
	return op.n, netip.AddrPort{}, nil
}

// ntohs converts a port in network byte order, as the kernel stores it.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zoneName names the interface of an IPv6 scope (its number if unknown).
func zoneName(id uint32) string {
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

var sendOps = sync.Pool{New: func() any {
	op := &udpOp{}
	op.fn = op.send
	return op
}}

// writeTo sends b to dst. ok is false when it cannot (a zoned address):
// the caller then uses the net.UDPConn.
func (r *rawUDP) writeTo(b []byte, dst netip.AddrPort) (ok bool, err error) {
	a := dst.Addr()
	if a.Zone() != "" || len(b) == 0 {
		return false, nil
	}
	op := sendOps.Get().(*udpOp)
	op.b, op.errno = b, 0
	if r.inet6 {
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&op.sa))
		*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		htons(&sa.Port, dst.Port())
		op.salen = syscall.SizeofSockaddrInet6
	} else {
		if a.Is4In6() {
			a = a.Unmap()
		}
		if !a.Is4() {
			sendOps.Put(op)
			return false, nil // let the net package report it
		}
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&op.sa))
		*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		htons(&sa.Port, dst.Port())
		op.salen = syscall.SizeofSockaddrInet4
	}
	err = r.rc.Write(op.fn)
	if err == nil && op.errno != 0 {
		err = &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(dst), Err: syscall.Errno(op.errno)}
	}
	op.b = nil
	sendOps.Put(op)
	return true, err
}

// htons stores port in network byte order.
func htons(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}
