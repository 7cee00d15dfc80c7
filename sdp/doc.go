// Package sdp parses and encodes session descriptions in the Session
// Description Protocol, SDP (RFC 8866, which obsoletes RFC 4566).
//
// It implements:
//
//   - RFC 8866 §5: the session and media description lines (v, o, s, i, u,
//     e, p, c, b, t, r, z, k, a and m), their fixed order and multiplicity,
//     and the rule that a c= line is present at session level or in every
//     media description (§5.7), including the IPv4 multicast "/ttl/num" and
//     IPv6 multicast "/num" connection address forms.
//   - RFC 8866 §6: helpers for the attributes a SIP user agent most often
//     reads and writes: the media direction attributes (§6.7), rtpmap (§6.6),
//     fmtp (§6.15), ptime (§6.4) and maxptime (§6.5). Every other attribute is
//     kept verbatim, in order, and can be looked up by name.
//   - RFC 8866 §9: the ABNF grammar, which [Parse] enforces for every line
//     type. As in RFC 4566 §9, a single z= line follows all the t= and r=
//     lines of the session.
//
// [Parse] is strict about syntax, so that damaged descriptions are detected
// and rejected as RFC 8866 §5 intends: lines must appear in the order of §5,
// v= must be 0, o=, s= and t= are mandatory, fields are separated by single
// spaces, there is no whitespace around "=", and a description containing a
// type letter outside §5 is rejected as a whole. It is lenient only where the
// RFC asks for it: lines may end in LF as well as CRLF, the final line may
// lack its terminator, and attributes it does not understand are kept
// verbatim (an attribute written "a=name:" with an empty value is kept too).
// Every error is a [*ParseError] giving the 1-based line number and the byte
// offset of the offending line.
//
// [Session.AppendTo] writes a description back with CRLF line endings in the
// canonical order of §5; [Session.Len] gives the exact encoded length.
// Encoding what Parse returned and parsing it again yields an identical
// [Session] (as compared by reflect.DeepEqual): Parse leaves absent optional
// fields as zero values and absent repeated fields as nil slices.
//
// The offer/answer model of RFC 3264 is here too: [Answer] builds an
// answer from an offer and local [Capabilities] (§6, §6.1), [NewOffer] and
// [Session.Reoffer], [Session.Hold], [Session.RemoveMedia] and
// [Session.AddMedia] build offers and re-offers (§5, §8), and
// [Negotiation] is the offer/answer state of one session — stable, local
// offer, remote offer — reporting glare ([ErrGlare], answered 491) and
// whether a refresh changed anything.
package sdp
