package digest_test

import (
	"fmt"

	"github.com/parleysip/parley/auth/digest"
	"github.com/parleysip/parley/sip"
)

// The worked example of RFC 2617 §3.5.
func ExampleResponse() {
	ha1 := digest.HA1("Mufasa", "testrealm@host.com", "Circle Of Life", digest.MD5)
	fmt.Println(ha1)
	fmt.Println(digest.Response(digest.MD5, ha1,
		"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth",
		"GET", "/dir/index.html", nil))
	// Output:
	// 939e7578ed9e3c518a452acee763bce9
	// 6629fae49393a05397450978507c4ef1
}

// A client answers the challenge of a 401 to its REGISTER.
func ExampleAnswer() {
	challenge, _ := sip.ParseAuth(`Digest realm="example.com", nonce="bm9uY2U", algorithm=SHA-256, qop="auth"`)
	cred, err := digest.Answer(challenge, sip.REGISTER, "sip:example.com", "alice", "secret", nil,
		func() string { return "0a4f113b" }, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Authorization:", digest.Value(cred))
	// Output:
	// Authorization: Digest username="alice", realm="example.com", nonce="bm9uY2U", uri="sip:example.com", response="369ee69e7c6045e86b4640e051421c5b9f49186b23fbde9ec4381e80c578861f", algorithm=SHA-256, cnonce="0a4f113b", qop=auth, nc=00000001
}
