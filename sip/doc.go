// Package sip is Parley's SIP message model and codec: requests and
// responses, URIs, header fields and their typed values, parsing from
// datagrams and streams, and encoding.
//
// It implements:
//   - RFC 3261 §7 (messages, header field format and folding §7.3.1,
//     compact forms §7.3.3, framing §7.5), §8.1.1.7 and §8.2.6 (branch,
//     tags, building responses), §18.3 (framing by Content-Length on
//     datagrams and streams), §19.1 (SIP and SIPS URIs, §19.1.4
//     comparison), §19.3 (tags), §20 (header fields), §21 (status codes)
//     and §25 (the ABNF);
//   - RFC 3966 tel URIs (parsing and §4 comparison);
//   - RFC 4475, whose 50 torture messages are all in testdata/torture and
//     each has its verdict asserted;
//   - RFC 5626 §4.4.1 keep-alive framing on streams;
//   - the header names, compact forms and RFCs of the SIP working group's
//     extensions (the table internal/gen/headers.tsv).
//
// # Memory
//
// [Parse] copies its input once; every string in the result — header
// values, URI components, parameters — is a substring of that private copy,
// which is never written. The caller may reuse its buffer at once. The
// message struct and the storage of its fields share a second allocation,
// so a typical request parses with two; the copy has its own so that a
// substring kept longer than the message (a transaction key) keeps only
// the text alive. The hot
// headers that the transaction, dialog and proxy layers read on every
// message (Via, From, To, Call-ID, CSeq, Max-Forwards, Route, Record-Route,
// Contact, Content-Length, Content-Type) are all checked during the parse,
// so a malformed one fails it. Via, Call-ID, CSeq, Max-Forwards, Route,
// Record-Route, Content-Length and Content-Type are parsed into typed
// values then, and so are the From and To tags ([Header.FromTag],
// [Header.ToTag]): reading them allocates nothing. The full From, To and
// Contact values are decoded on first access (one allocation each, safe
// from several goroutines at once), which keeps a parsed message small.
// Every other header is kept as written and parsed on typed access.
//
// # Errors
//
// A message that cannot be parsed yields a *[ParseError] carrying the
// status a server answers with and, when the Via, From, To, Call-ID and
// CSeq are intact enough, the partial request to build that response from.
// Unparseable datagrams must never be answered (amplification); the
// transport layer follows ParseError.CanRespond.
package sip
