package stack

import (
	"context"

	"github.com/parleysip/parley/sip"
	"github.com/parleysip/parley/transport"
)

// RespondStateless sends res for a request that has no server transaction
// (RFC 3261 §16.11: "a stateless proxy ... MUST NOT" keep state; also the
// 400 answered to an unparseable request). in is the flow the request
// arrived on.
func (s *Server) RespondStateless(ctx context.Context, res *sip.Response, in transport.Flow) error {
	s.init()
	return s.tp.SendResponse(ctx, res, in)
}

// ForwardStateless sends req to d without a client transaction (§16.11:
// "the request is forwarded ... without creating a client transaction";
// retransmissions are the sender's). The caller has already added its Via
// with a branch computed as §16.11 describes.
func (s *Server) ForwardStateless(ctx context.Context, req *sip.Request, d transport.Dest) (transport.Flow, error) {
	s.init()
	return s.tp.SendRequest(ctx, req, d)
}

// ForwardResponseStateless removes the top Via of res (this element's) and
// sends it to the next one, routed by the Via header as §18.2.2 says
// (§16.7 step 3, §16.11).
func (s *Server) ForwardResponseStateless(ctx context.Context, res *sip.Response) error {
	s.init()
	if !res.RemoveTopVia() || res.TopVia() == nil {
		return nil // it was for us, or has nowhere to go: drop
	}
	return s.tp.SendResponse(ctx, res, transport.Flow{})
}
