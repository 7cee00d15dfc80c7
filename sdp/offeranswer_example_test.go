package sdp_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/parleysip/parley/sdp"
)

func ExampleAnswer() {
	offer, err := sdp.Parse([]byte("v=0\r\n" +
		"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.10\r\n" +
		"t=0 0\r\n" +
		"m=audio 49170 RTP/AVP 0 8 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n" +
		"m=video 51372 RTP/AVP 31\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	local := sdp.Capabilities{
		Username:  "bob",
		SessionID: 1,
		Address:   netip.MustParseAddr("192.0.2.20"),
		Ports:     func(string) int { return 5004 },
		Media: []sdp.MediaCapability{{
			Type: "audio",
			Codecs: []sdp.Codec{
				{PayloadType: 8, Name: "PCMA", ClockRate: 8000},
				{PayloadType: 100, Name: "telephone-event", ClockRate: 8000},
			},
		}},
	}

	// The offer arrives in an INVITE.
	var n sdp.Negotiation
	if err := n.RemoteOffer(offer); errors.Is(err, sdp.ErrGlare) {
		fmt.Println("491 Request Pending")
		return
	}
	answer, err := n.Answer(local)
	if err != nil {
		fmt.Println(err) // ErrNoCommonMedia: 488 Not Acceptable Here
		return
	}
	if err := n.LocalAnswer(answer); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(answer.String(), "\r\n", "\n"))

	// Later, put the call on hold with a re-offer (RFC 3264 §8.4).
	hold := n.Local().Reoffer()
	hold.Hold()
	fmt.Println(n.LocalOffer(hold), n.State(), hold.Origin.SessionVersion, hold.MediaDirection(&hold.Media[0]))

	// Output:
	// v=0
	// o=bob 1 0 IN IP4 192.0.2.20
	// s=-
	// c=IN IP4 192.0.2.20
	// t=0 0
	// m=audio 5004 RTP/AVP 8 101
	// a=rtpmap:8 PCMA/8000
	// a=rtpmap:101 telephone-event/8000
	// a=fmtp:101 0-16
	// a=ptime:20
	// a=sendrecv
	// m=video 0 RTP/AVP 31
	// <nil> local-offer 1 sendonly
}
