package resolve_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/parleysip/parley/resolve"
	"github.com/parleysip/parley/transport"
)

// A sips URI with a numeric host needs no DNS: TLS on port 5061.
func Example() {
	var r resolve.Resolver
	targets, err := r.Lookup(context.Background(), resolve.Query{Host: "192.0.2.10", Secure: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		fmt.Println(t.Network, t.Addr)
	}
	// Output: TLS 192.0.2.10:5061
}

// Trying targets in turn, as RFC 3263 §4.3 describes: on a transport error,
// a 503 or a timeout, mark the target failed and send a new request (new Via
// branch) to the next.
func ExampleFailover() {
	targets := []resolve.Target{
		{Network: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")},
		{Network: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.2:5060")},
	}
	f := resolve.NewFailover(targets)
	for t, ok := f.Next(); ok; t, ok = f.Next() {
		fmt.Println("send to", t.Addr)
		if t.Addr.Addr() == netip.MustParseAddr("192.0.2.1") {
			fmt.Println("503 Service Unavailable")
			f.Fail(t)
			continue
		}
		fmt.Println("200 OK")
		break
	}
	// Output:
	// send to 192.0.2.1:5060
	// 503 Service Unavailable
	// send to 192.0.2.2:5060
	// 200 OK
}
