package ua

import (
	"github.com/parleysip/parley/sip"
)

// Identity is who a UAC speaks as: the From address (a tag is added per
// request) and, for requests that need one, the Contact.
type Identity struct {
	From    sip.NameAddr
	Contact *sip.NameAddr
}

// NewRequest builds an out-of-dialog request to target as RFC 3261 §8.1.1
// requires: "A valid SIP request formulated by a UAC MUST, at a minimum,
// contain the following header fields: To, From, CSeq, Call-ID,
// Max-Forwards, and Via". To is the target without tag (§8.1.1.2); From
// gets a new tag (§8.1.1.3: "MUST contain a new 'tag' parameter"); Call-ID
// is new and globally unique (§8.1.1.4); CSeq starts at 1 (§8.1.1.5);
// Max-Forwards is 70 (§8.1.1.6); Contact is added for methods that can
// establish a dialog or register one (§8.1.1.8: "The Contact header field
// MUST be present and contain exactly one SIP or SIPS URI in any request
// that can result in the establishment of a dialog"). The Via is left to
// the stack.
func NewRequest(method sip.Method, target sip.URI, id Identity) *sip.Request {
	req := sip.NewRequest(method, requestURI(target))
	from := id.From
	from.Params = from.Params.Set("tag", sip.NewTag())
	req.SetTo(sip.NameAddr{URI: target})
	req.SetFrom(from)
	req.SetCallID(sip.NewCallID(from.URI.Host))
	req.SetCSeq(sip.CSeq{Seq: 1, Method: method})
	req.SetMaxForwards(70)
	if id.Contact != nil {
		switch method {
		case sip.INVITE, sip.SUBSCRIBE, sip.REFER, sip.REGISTER, sip.NOTIFY:
			req.SetContacts(sip.Contact{NameAddr: *id.Contact})
		}
	}
	return req
}

// requestURI strips what may not appear in a Request-URI: the headers
// component (§19.1.1 Table 1; §19.1.5 says headers become header fields of
// the request, which this builder leaves to the caller) and the method
// parameter.
func requestURI(u sip.URI) sip.URI {
	u.Headers = ""
	u.Params = u.Params.Del("method")
	return u
}
