// Package bootstrap is the service-discovery daemon of one region. It keeps the
// signed, expiring records (wire.NodeRecord) that the region's nodes publish
// about themselves (role, peer ID, addresses, region and, for miners, free and
// total capacity), answers wire.Register and wire.ListNodes, and pulls the
// records held by the region's other bootstrap servers (its seeds).
//
// It owns: the record table, the checks a record must pass before it is
// stored or served, the seed sync and the expiry sweep. It does not own the
// record format and its signature (package wire), nor the client side of
// registration and listing and the DNS TXT seed format (package discover).
// Seeds come from the config (seeds and bootstrap) and, if dns_seed is set,
// from the TXT records of that domain, looked up at every sync.
//
// Records live in memory only. A record lives for minutes (at most max_ttl)
// and every node re-registers every ttl/3, so after a restart the table is
// full again within one ttl/3 without any disk state; the data directory holds
// only the identity key and node.json.
//
// A record is accepted, from a node over Register or from a seed over
// ListNodes, when:
//
//   - it is signed by the key behind its Peer and has not expired (rec.Verify);
//   - it expires no later than now + max_ttl (+30s for clock skew);
//   - its Region is this bootstrap's region and its Role is a known role;
//   - it has at most 16 addresses, each a host:port of at most 255 bytes, and
//     Free <= Capacity;
//   - its Seq is strictly above the Seq last stored for that peer. The highest
//     Seq of a peer is kept until the last record of that peer that was ever
//     accepted has expired, so an old record cannot be replayed in between.
//
// Over Register the record's Peer must also be the authenticated peer of the
// stream: a node registers only itself. Records are self-signed by their
// node, so a seed cannot forge them; a seed can only withhold them.
//
// Table entry, one per peer, in memory:
//
//	peer ID -> { record (as signed), encoded size, keepUntil (unix s) }
//
// ListNodes answers the live records of a role (0: all), sorted by role and
// then by the peer ID's bytes, at most 4096 records and never more than fits
// in one frame (wire.MaxFrame).
package bootstrap
