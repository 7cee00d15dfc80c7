// Package dnstest serves fixed DNS records from a loopback UDP socket, for
// tests of RFC 3263 lookups (§4.1 NAPTR, §4.2 SRV, A and AAAA) that must
// not leave the machine. It implements no RFC itself: it answers exactly
// the records it is given (RFC 1035 messages via github.com/miekg/dns),
// with NXDOMAIN for anything else.
package dnstest
