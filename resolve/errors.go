package resolve

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Sentinel errors. Every error returned by this package has a message that
// starts with "resolve: ".
var (
	// ErrNotFound reports that DNS has no usable record for a name: the
	// server answered NXDOMAIN, or NOERROR without records of the asked type
	// (NODATA), or an SRV set says the service is "decidedly not available"
	// (RFC 2782 target "."). Lookup and LookupResponse wrap it, usually inside
	// a [*DNSError] that carries the response code, when no target at all
	// could be found.
	ErrNotFound = errors.New("resolve: no SIP target found")

	// ErrInvalidQuery reports a [Query] (or LookupResponse argument) that
	// cannot be resolved: an empty or malformed host, or no transport where
	// one is required.
	ErrInvalidQuery = errors.New("resolve: invalid query")

	// ErrUnsupportedTransport reports a combination that no transport can
	// carry: a sips URI with transport=udp or sctp (RFC 3261 §26.2.2 needs
	// TLS), or a sips URI when the Resolver's Transports list no secure
	// transport.
	ErrUnsupportedTransport = errors.New("resolve: unsupported transport")

	// ErrNoServers reports that no DNS server is configured: Resolver.Servers
	// is empty and /etc/resolv.conf could not be read or names none.
	ErrNoServers = errors.New("resolve: no DNS servers configured")
)

// errNotOffered is the reason given when an SRV set holds the single target
// "." (RFC 2782: "the service is decidedly not available at this domain").
var errNotOffered = fmt.Errorf("%w (SRV target \".\": service decidedly not available)", ErrNotFound)

// DNSError describes a failed DNS query. It wraps [ErrNotFound] for NXDOMAIN
// and NODATA answers, the context's error when the query was canceled, or
// the network error that made the server unreachable; for other response
// codes (SERVFAIL, REFUSED, ...) Err is nil and Rcode tells what happened.
type DNSError struct {
	Name   string // the name queried, fully qualified
	Type   string // the query type, e.g. "SRV"
	Server string // the server that gave the answer, "" when none did or the answer came from the cache
	Rcode  int    // DNS response code (dns.RcodeNameError for NXDOMAIN); -1 when no response arrived
	Err    error  // underlying cause; may be nil
}

// Error formats the failure as "resolve: TYPE NAME: cause".
func (e *DNSError) Error() string {
	head := "resolve: " + e.Type + " " + e.Name + ": "
	switch {
	case errors.Is(e.Err, ErrNotFound):
		if e.Err == ErrNotFound {
			return head + "not found (" + rcodeString(e.Rcode) + ")"
		}
		return head + e.Err.Error()
	case e.Err != nil:
		return head + e.Err.Error()
	default:
		s := head + rcodeString(e.Rcode)
		if e.Server != "" {
			s += " from " + e.Server
		}
		return s
	}
}

// Unwrap returns the underlying cause.
func (e *DNSError) Unwrap() error { return e.Err }

// NXDomain reports whether the server answered that the name does not exist.
func (e *DNSError) NXDomain() bool { return e.Rcode == dns.RcodeNameError }

func rcodeString(rc int) string {
	if rc < 0 {
		return "no response"
	}
	if s, ok := dns.RcodeToString[rc]; ok {
		if rc == dns.RcodeSuccess {
			return "NODATA"
		}
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// isNotFound reports whether err is a definitive negative answer.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// isNXDomain reports whether err is an NXDOMAIN answer.
func isNXDomain(err error) bool {
	var de *DNSError
	return errors.As(err, &de) && de.NXDomain()
}

// pickErr chooses the most informative of errs: the first one that is not a
// plain "not found" (a timeout or SERVFAIL tells the caller that trying again
// may help), else the first not-found, else nil.
func pickErr(errs ...error) error {
	var nf error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !isNotFound(err) {
			return err
		}
		if nf == nil {
			nf = err
		}
	}
	return nf
}
