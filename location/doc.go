// Package location is the location service of RFC 3261 §10.3: for each
// address-of-record (AoR) it keeps the set of bindings that REGISTER
// requests create, refresh and remove, and it emits a stream of changes.
//
// A [Binding] keeps what the registrar and the proxy need to reach a
// contact:
//
//   - the Contact value with its header parameters as received, so that
//     feature tags (RFC 3840) survive for caller preferences (RFC 3841);
//   - the absolute expiry, q, Call-ID and CSeq of §10.3 steps 6–7;
//   - the Path of RFC 3327, the instance-id and reg-id of RFC 5626 (which
//     also identify GRUU instances, RFC 5627), the received source address
//     and the [transport.Flow] the REGISTER arrived on (RFC 5626 §6), and the
//     node that owns that flow when several servers share a store.
//
// A [Record] holds the bindings of one AoR. A [Store] reads records, updates
// one record atomically (a read-modify-write callback), sweeps expired
// bindings and publishes [Change] values (created, refreshed, expired,
// removed). Expired bindings are never returned, even before a sweep.
//
// Three stores implement it:
//
//   - [Memory]: sharded maps; for tests and single-node servers that can
//     lose bindings on restart.
//   - [Bolt]: an embedded bbolt file, the default of `parley serve`. Writes
//     are group-committed (bbolt's Batch): concurrent updates share one
//     transaction and one fsync, and Update returns only once its write is
//     on disk, so a 200 OK to REGISTER survives kill -9.
//   - [Redis]: one key per AoR with a TTL, optimistic transactions
//     (WATCH/MULTI/EXEC), and changes published on a pub/sub channel so
//     that every node sharing the Redis sees every change.
//
// [GRUUs] makes and resolves the GRUUs of RFC 5627 without storing them:
// public GRUUs are the AoR with "gr", temporary ones seal the AoR, the
// instance and a hash of the Call-ID under a key; [GRUURef.Bindings] says
// which contacts a GRUU reaches and whether it is still valid (§5.1, §5.3).
//
// The store does not interpret REGISTER: computing the canonical AoR
// (see [CanonicalAoR]), expiry intervals, and which binding a Contact
// replaces (see [Binding.Same]) is the registrar's job.
package location
