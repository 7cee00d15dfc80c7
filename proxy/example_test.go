package proxy_test

import (
	"context"
	"fmt"

	"github.com/parleysip/parley/proxy"
	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/stack"
	"github.com/parleysip/parley/transport"
)

func ExampleProxy() {
	ctx := context.Background()

	// A user agent server that answers every request 200 OK.
	uas := &stack.Server{Handler: stack.HandlerFunc(func(_ context.Context, w stack.ResponseWriter, r *sip.Request) {
		_ = w.Respond(sip.NewResponse(r, sip.StatusOK))
	})}
	uasLn, err := uas.Listen(ctx, transport.UDP, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer uas.Shutdown(ctx)
	bob := sip.URI{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: uasLn.Addr().Port()}

	// The proxy: sip:bob@example.com is reached at the UAS.
	srv := &stack.Server{}
	p := &proxy.Proxy{
		Client: &stack.Client{Server: srv},
		Router: proxy.RouterFunc(func(_ context.Context, r *sip.Request) ([]proxy.Target, sip.StatusCode, error) {
			if r.URI.User == "bob" && r.URI.Host == "example.com" {
				return []proxy.Target{{URI: bob}}, 0, nil
			}
			return nil, sip.StatusNotFound, nil
		}),
	}
	srv.Handler = p
	srv.OnAck = p.ForwardAck
	ln, err := srv.Listen(ctx, transport.UDP, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(ctx)

	// A user agent client sends through the proxy.
	c := &stack.Client{}
	defer c.Close()
	for _, user := range []string{"bob", "carol"} {
		u := sip.URI{Scheme: "sip", User: user, Host: "example.com"}
		req := sip.NewRequest(sip.MESSAGE, u)
		req.SetFrom(sip.NameAddr{URI: sip.URI{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.Params(";tag=" + sip.NewTag())})
		req.SetTo(sip.NameAddr{URI: u})
		req.SetCallID(sip.NewCallID(""))
		req.SetCSeq(sip.CSeq{Seq: 1, Method: sip.MESSAGE})
		req.SetMaxForwards(70)
		res, err := c.Do(ctx, req, stack.WithDest(transport.Dest{Network: transport.UDP, Addr: ln.Addr()}))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(user, int(res.StatusCode), res.Reason, len(res.Vias()))
	}
	// Output:
	// bob 200 OK 1
	// carol 404 Not Found 1
}
