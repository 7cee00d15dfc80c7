package stack_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

func ExampleServer() {
	ctx := context.Background()
	mux := &stack.ServeMux{}
	mux.HandleFunc(sip.OPTIONS, func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		res := sip.NewResponse(r, sip.StatusOK)
		_ = res.Add("Allow", "OPTIONS")
		_ = w.Respond(res)
	})
	srv := &stack.Server{Handler: mux}
	ln, err := srv.Listen(ctx, transport.UDP, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)

	// A request to the server's address; the Client adds the Via.
	u := sip.URI{Scheme: "sip", Host: "127.0.0.1", Port: ln.Addr().Port()}
	req := sip.NewRequest(sip.OPTIONS, u)
	req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.Params(";tag=" + sip.NewTag())})
	req.SetTo(sip.NameAddr{URI: u})
	req.SetCallID(sip.NewCallID(""))
	req.SetCSeq(sip.CSeq{Seq: 1, Method: sip.OPTIONS})
	req.SetMaxForwards(70)

	c := &stack.Client{}
	defer c.Close()
	res, err := c.Do(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(int(res.StatusCode), res.Reason, res.Get("Allow"))
	// Output: 200 OK OPTIONS
}

// Cancelling an INVITE with a cause made by WithCancelReason: the CANCEL
// carries the Reason (RFC 3326), and the server's handler finds it in the
// *CancelError that ends its context.
func ExampleWithCancelReason() {
	ctx := context.Background()
	why := make(chan string, 1)
	srv := &stack.Server{Handler: stack.HandlerFunc(func(ctx context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusRinging))
		<-ctx.Done()
		var ce *stack.CancelError
		if errors.As(context.Cause(ctx), &ce) {
			why <- ce.Request.Get("Reason")
		}
		// Returning without a final response: the stack answers 487.
	})}
	ln, err := srv.Listen(ctx, transport.UDP, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)

	u := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: ln.Addr().Port()}
	req := sip.NewRequest(sip.INVITE, u)
	req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.Params(";tag=" + sip.NewTag())})
	req.SetTo(sip.NameAddr{URI: u})
	req.SetCallID(sip.NewCallID(""))
	req.SetCSeq(sip.CSeq{Seq: 1, Method: sip.INVITE})
	req.SetMaxForwards(70)

	c := &stack.Client{}
	defer c.Close()
	callCtx, cancel := context.WithCancelCause(ctx)
	res, _ := c.Do(callCtx, req, stack.WithProvisional(func(*sip.Response) {
		// Ringing: hang up, answered elsewhere.
		cancel(stack.WithCancelReason(errors.New("answered elsewhere"), `SIP;cause=200;text="Call completed elsewhere"`))
	}))
	fmt.Println(int(res.StatusCode), res.Reason)
	fmt.Println(<-why)
	// Output:
	// 487 Request Terminated
	// SIP;cause=200;text="Call completed elsewhere"
}
