package transaction_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transaction"
	"github.com/parleysip/parley/transport"
)

// wire is a toy in-memory transport joining two Layers over TCP-like
// flows. Like a real transport, it delivers what is sent on a goroutine
// of its own, never inside SendRequest or SendResponse.
type wire struct {
	peer *transaction.Layer
	flow transport.Flow
}

func (w *wire) deliver(m sip.Message) {
	go w.peer.HandleIncoming(transport.Incoming{Message: m, Flow: w.flow})
}

func (w *wire) SendRequest(_ context.Context, req *sip.Request, _ transport.Dest) (transport.Flow, error) {
	w.deliver(req)
	return w.flow, nil
}

func (w *wire) SendResponse(_ context.Context, res *sip.Response, _ transport.Flow) error {
	w.deliver(res)
	return nil
}

// A client Layer sends OPTIONS to a server Layer, whose TU answers 200.
func ExampleLayer_Request() {
	flow := transport.Flow{
		Network: transport.TCP, ConnID: 1,
		Local:  netip.MustParseAddrPort("192.0.2.1:5060"),
		Remote: netip.MustParseAddrPort("192.0.2.2:5060"),
	}
	toServer, toClient := &wire{flow: flow}, &wire{flow: flow}
	server := transaction.NewLayer(toClient, transaction.Config{
		OnRequest: func(tx *transaction.ServerTx, req *sip.Request) {
			fmt.Println("server got", req.Method)
			tx.Respond(context.Background(), sip.NewResponse(req, sip.StatusOK))
		},
	})
	client := transaction.NewLayer(toServer, transaction.Config{})
	toServer.peer, toClient.peer = server, client
	defer server.Close()
	defer client.Close()

	msg, _ := sip.Parse([]byte(strings.ReplaceAll(`OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/TCP 192.0.2.1:5060;branch=`+sip.NewBranch()+`
Max-Forwards: 70
To: <sip:bob@example.com>
From: <sip:alice@example.com>;tag=`+sip.NewTag()+`
Call-ID: `+sip.NewCallID("example.com")+`
CSeq: 1 OPTIONS
Content-Length: 0

`, "\n", "\r\n")))
	tx, err := client.Request(context.Background(), msg.(*sip.Request),
		transport.Dest{Network: transport.TCP, Addr: flow.Remote})
	if err != nil {
		fmt.Println(err)
		return
	}
	for res := range tx.Responses() { // closed when the transaction ends
		fmt.Println("client got", res.StatusCode)
	}
	fmt.Println("transaction ended:", tx.State(), tx.Err())
	// Output:
	// server got OPTIONS
	// client got 200 OK
	// transaction ended: Terminated <nil>
}
