package transport_test

import (
	"context"
	"fmt"
	"time"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// A Layer listening on UDP answers OPTIONS; a second Layer, with no
// listener of its own, sends one and gets the answer.
func Example() {
	ctx := context.Background()
	server := &transport.Layer{}
	server.Handler = func(in transport.Incoming) {
		if req, ok := in.Message.(*sip.Request); ok && req.Method == sip.OPTIONS {
			server.SendResponse(ctx, sip.NewResponse(req, sip.StatusOK), in.Flow)
		}
	}
	ln, err := server.Listen(ctx, transport.UDP, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	client := &transport.Layer{}
	answers := make(chan *sip.Response, 1)
	client.Handler = func(in transport.Incoming) {
		if res, ok := in.Message.(*sip.Response); ok {
			answers <- res
		}
	}
	defer client.Close()

	uri, _ := sip.ParseURI("sip:" + ln.Addr().String())
	req := sip.NewRequest(sip.OPTIONS, uri)
	req.Add("Via", "SIP/2.0/UDP placeholder.invalid;branch="+sip.NewBranch())
	req.Add("Max-Forwards", "70")
	req.Add("From", "<sip:alice@example.com>;tag="+sip.NewTag())
	req.Add("To", "<sip:bob@example.com>")
	req.Add("Call-ID", sip.NewCallID(""))
	req.Add("CSeq", "1 OPTIONS")
	flow, err := client.SendRequest(ctx, req, transport.Dest{Network: transport.UDP, Addr: ln.Addr()})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent over", flow.Network)

	select {
	case res := <-answers:
		rport, _ := res.TopVia().RPort()
		fmt.Println(int(res.StatusCode), res.Reason)
		fmt.Println("rport filled in by the server:", rport == flow.Local.Port())
	case <-time.After(5 * time.Second):
		fmt.Println("no answer")
	}
	// Output:
	// sent over UDP
	// 200 OK
	// rport filled in by the server: true
}
