package sdp

import "strings"

// crlf turns a fixture written with LF line endings into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// The fixtures below are written in canonical form: encoding what they parse
// to reproduces them byte for byte (after crlf).

// rfcExample is the example session description of RFC 8866 §5.
const rfcExample = `v=0
o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1
s=Call to John Smith
i=SDP Offer #1
u=http://www.jdoe.example.com/home.html
e=Jane Doe <jane@jdoe.example.com>
p=+1 617 555-6011
c=IN IP4 198.51.100.1
t=0 0
m=audio 49170 RTP/AVP 0
m=audio 49180 RTP/AVP 0
m=video 51372 RTP/AVP 99
c=IN IP6 2001:db8::2
a=rtpmap:99 h263-1998/90000
`

// ipv6Session is the example of RFC 8866 §6.7: an IPv6 session whose
// session-level a=inactive applies to every medium but the first.
const ipv6Session = `v=0
o=jdoe 3724395000 3724395001 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
a=inactive
m=audio 49170 RTP/AVP 0
a=sendrecv
m=audio 49180 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
`

// sipOffer is a typical SIP audio offer (RFC 3264 style).
const sipOffer = `v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s= 
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
`

// multiMedia has audio, video and an application stream with media-level
// connection, bandwidth and information lines.
const multiMedia = `v=0
o=bob 3724394400 3724394401 IN IP4 host.example.com
s=Multi
b=CT:1024
t=0 0
a=tool:parley
m=audio 5004 RTP/AVP 96 0
i=Main audio
c=IN IP4 192.0.2.20
b=AS:64
a=rtpmap:96 opus/48000/2
a=fmtp:96 minptime=10;useinbandfec=1
a=ptime:22.5
a=maxptime:60
a=sendonly
m=video 5006 RTP/AVPF 97
c=IN IP4 192.0.2.21
b=AS:512
b=TIAS:500000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=42e01f;packetization-mode=1
a=recvonly
m=application 0 UDP/BFCP *
c=IN IP4 192.0.2.22
a=inactive
`

// multicast uses IPv4 multicast with TTL and address count, an IPv6
// multicast address count, multi-port media, repeat times and time zones.
const multicast = `v=0
o=- 3724394400 3724394400 IN IP4 198.51.100.1
s=Layered video
c=IN IP4 233.252.0.1/127/3
t=3724394400 3754123200
r=604800 3600 0 90000
z=3730928400 -1h 3749680800 0
m=video 49170/2 RTP/AVP 31
m=video 51372 RTP/AVP 31
c=IN IP6 ff00::db8:0:101/3
m=audio 49200 RTP/AVP 0
c=IN IP4 233.252.0.9/0
`

// everything uses every line type, several of them more than once.
const everything = `v=0
o=- 0 0 IN IP4 192.0.2.1
s=All lines
i=Information
u=https://example.com/session
e=j.doe@example.com (Jane Doe)
e=ops@example.com
p=+1 617 555-6011
p=+44 20 7946 0000
c=IN IP4 192.0.2.1
b=CT:2000
b=X-YZ:128
t=3724394400 3724398000
r=7d 1h 0 25h
r=604800 3600 0
t=3724484400 0
z=3730928400 -1h
k=prompt
a=recvonly
a=charset:UTF-8
a=x-empty:
m=audio 0 RTP/AVP 0
i=Rejected stream
c=IN IP4 192.0.2.2
c=IN IP4 192.0.2.3
b=AS:80
b=RS:0
k=clear:secret
a=rtpmap:0 PCMU/8000
a=candidate:1 1 UDP 2130706431 192.0.2.2 5000 typ host
m=text 5010 RTP/AVP 98
a=rtpmap:98 t140/1000
`

// fixtures are the valid descriptions used by the table tests, the round
// trip test and as fuzz seeds.
var fixtures = []struct {
	name string
	sdp  string
}{
	{"rfc8866-example", rfcExample},
	{"ipv6", ipv6Session},
	{"sip-offer", sipOffer},
	{"multi-media", multiMedia},
	{"multicast", multicast},
	{"everything", everything},
}
