package sip_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/parleysip/parley/sip"
)

func ExampleParse() {
	datagram := []byte("OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:bob@biloxi.example.com>\r\n" +
		"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
		"Call-ID: a84b4c76e66710\r\n" +
		"CSeq: 63104 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n")
	m, err := sip.Parse(datagram)
	if err != nil {
		fmt.Println(err)
		return
	}
	req := m.(*sip.Request)
	cseq, _ := req.CSeq()
	fmt.Println(req.Method, req.URI.User, req.URI.Host)
	fmt.Println(req.TopVia().Branch(), req.From().Tag(), cseq)

	res := sip.NewResponse(req, sip.StatusOK)
	res.SetToTag("a6c85cf")
	fmt.Print(strings.ReplaceAll(res.String(), "\r\n", "\n"))
	// Output:
	// OPTIONS bob biloxi.example.com
	// z9hG4bKhjhs8ass877 1928301774 63104 OPTIONS
	// SIP/2.0 200 OK
	// Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877
	// To: <sip:bob@biloxi.example.com>;tag=a6c85cf
	// From: Alice <sip:alice@atlanta.example.com>;tag=1928301774
	// Call-ID: a84b4c76e66710
	// CSeq: 63104 OPTIONS
	// Content-Length: 0
}

func ExampleParseError() {
	_, err := sip.Parse([]byte("INVITE sip:bob@biloxi.example.com SIP/7.0\r\n" +
		"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n" +
		"To: <sip:bob@biloxi.example.com>\r\n" +
		"From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n" +
		"Call-ID: a84b4c76e66710\r\n" +
		"CSeq: 314159 INVITE\r\n\r\n"))
	var pe *sip.ParseError
	if errors.As(err, &pe) && pe.CanRespond() {
		res := sip.NewResponse(pe.Request, pe.Status)
		fmt.Println(pe.Reason)
		fmt.Println(int(res.StatusCode), res.Reason)
	}
	// Output:
	// unsupported SIP version SIP/7.0
	// 505 Version Not Supported
}

func ExampleReader() {
	stream := "\r\n\r\n" + // a keep-alive ping
		"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n" +
		"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\n" +
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	r := sip.NewReader(strings.NewReader(stream), sip.Limits{})
	r.OnKeepAlive = func() { fmt.Println("ping: answer with CRLF") }
	m, err := r.ReadMessage()
	fmt.Println(m.Headers().CallID(), err)
	_, err = r.ReadMessage()
	fmt.Println(err)
	// Output:
	// ping: answer with CRLF
	// c1 <nil>
	// EOF
}

func ExampleURI_Equal() {
	a, _ := sip.ParseURI("sip:%61lice@atlanta.com;transport=TCP")
	b, _ := sip.ParseURI("sip:alice@AtLanTa.CoM;Transport=tcp")
	c, _ := sip.ParseURI("sip:alice@atlanta.com:5060;transport=tcp")
	fmt.Println(a.Equal(&b), a.Equal(&c))
	// Output: true false
}
