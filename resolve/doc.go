// Package resolve locates SIP servers in DNS as RFC 3263 ("Session
// Initiation Protocol (SIP): Locating SIP Servers") describes.
//
// A client that must send a request to a SIP or SIPS URI (the Request-URI
// or the first Route) describes the URI with a [Query] and calls
// [Resolver.Lookup], which returns the ordered list of [Target]s (transport,
// IP address and port) to try:
//
//   - RFC 3263 §4: the TARGET is the maddr parameter if present, else the
//     URI host.
//   - RFC 3263 §4.1, selecting a transport: the transport parameter if
//     given; else UDP for sip and TLS for sips when the TARGET is numeric or
//     a port is given; else NAPTR records, filtered to the services the
//     client supports ("SIP+D2U", "SIP+D2T", "SIPS+D2T", "SIP+D2S", and the
//     WebSocket services "SIP+D2W" and "SIPS+D2W" of RFC 7118), only "SIPS+"
//     services for a sips URI, ordered by order then preference; without
//     NAPTR records, SRV queries for each supported transport; without SRV
//     records, UDP for sip and TLS for sips.
//   - RFC 3263 §4.2, determining port and address: a numeric TARGET is used
//     as is; a name with a port is looked up with A and AAAA only; otherwise
//     the SRV records found above (or queried for the explicit transport)
//     are ordered by priority and weight and their targets looked up with A
//     and AAAA (the SRV answer's additional records are used when present);
//     without SRV records, the name's A and AAAA records on the default port.
//   - RFC 3263 §4.3, failover: the caller tries the targets in order and
//     moves to the next one after a transport error, a 503 response or a
//     transaction timeout; [Failover] keeps that position and a blacklist
//     of failed targets for the request.
//   - RFC 3263 §5, server usage: [Resolver.LookupResponse] resolves the
//     sent-by of the topmost Via when a response cannot be sent over the
//     connection or to the address it came from (RFC 3261 §18.2.2).
//   - RFC 2782: SRV records are sorted by ascending priority, and records of
//     equal priority by a weighted random selection in which weight-0
//     records have a small chance of coming first; a single target of "."
//     means the service is not offered.
//
// A and AAAA are always both queried; IPv4 addresses come first unless
// Resolver.PreferIPv6 is set. Answers are kept in a bounded, TTL-respecting
// [Cache] (negative answers for the SOA-derived time of RFC 2308, at most
// five minutes). The DNS client is github.com/miekg/dns, talking to the
// servers of /etc/resolv.conf or of Resolver.Servers over UDP, retrying over
// TCP when an answer is truncated. Canceling the context aborts queries in
// flight. "localhost" names resolve to the loopback addresses without
// asking DNS (RFC 6761 §6.3).
//
// Errors have messages that begin with "resolve: ". A name with no usable
// record yields an error wrapping [ErrNotFound]; [*DNSError] carries the
// name, type and response code of a failed query.
package resolve
