package sdp_test

import (
	"fmt"
	"strings"

	"github.com/parleysip/parley/sdp"
)

func Example() {
	offer := "v=0\r\n" +
		"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
		"s=-\r\n" +
		"c=IN IP4 192.0.2.10\r\n" +
		"t=0 0\r\n" +
		"a=sendonly\r\n" +
		"m=audio 49170 RTP/AVP 0 101\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\n" +
		"a=fmtp:101 0-16\r\n" +
		"a=ptime:20\r\n"

	s, err := sdp.Parse([]byte(offer))
	if err != nil {
		fmt.Println(err)
		return
	}
	m := &s.Media[0]
	addr, _ := s.MediaConnection(m).Addr()
	fmt.Println("send to", addr, "port", m.Port)
	fmt.Println("direction", s.MediaDirection(m))
	ev, _ := m.RTPMap(101)
	events, _ := m.Fmtp(101)
	fmt.Println("events", ev.Encoding, ev.ClockRate, events)
	ptime, _ := m.PTime()
	fmt.Println("ptime", ptime)

	// Answer: receive only, with the offered audio formats.
	answer := &sdp.Session{
		Origin: sdp.Origin{Username: "bob", SessionID: 1, SessionVersion: 1,
			NetType: "IN", AddrType: "IP4", Address: "192.0.2.20"},
		Name:       "-",
		Connection: &sdp.Connection{NetType: "IN", AddrType: "IP4", Address: "192.0.2.20"},
		Times:      []sdp.Timing{{}},
		Media: []sdp.Media{{Type: "audio", Port: 5004, Proto: "RTP/AVP", Formats: m.Formats,
			Attributes: []sdp.Attribute{{Key: "rtpmap", Value: ev.String()}}}},
	}
	answer.Media[0].SetDirection(sdp.RecvOnly)
	fmt.Print(strings.ReplaceAll(answer.String(), "\r\n", "\n"))

	_, err = sdp.Parse([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nx=1\r\n"))
	fmt.Println(err)

	// Output:
	// send to 192.0.2.10 port 49170
	// direction sendonly
	// events telephone-event 8000 0-16
	// ptime 20ms
	// v=0
	// o=bob 1 1 IN IP4 192.0.2.20
	// s=-
	// c=IN IP4 192.0.2.20
	// t=0 0
	// m=audio 5004 RTP/AVP 0 101
	// a=rtpmap:101 telephone-event/8000
	// a=recvonly
	// sdp: line 4: unknown line type 'x'
}
