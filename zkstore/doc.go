// Package zkstore is a region's payment operator: it accepts signed transfers
// over the transport, checks signature, nonce and balance against its pending
// account tree, queues them durably in pebble, seals them into batches of a
// fixed size, proves each batch with the rollup circuit and submits it to the
// sidechain, whose accepted roots the wallet trusts. It owns the queue, the
// batch records and the two trees (pending and proven); the state and the
// circuit are package rollup's, the chain is the sidechain's.
//
// Durability: a transfer is acknowledged after one synced pebble batch holds
// its queue entry, its witness and its effect on the pending tree, so an
// acknowledged transfer survives a kill at any moment and, being applied in
// the same write that queues it, is applied exactly once. Batches are cut from
// the queue in order and recorded before they are proven; a batch the chain
// accepted before a crash is recognised by the chain's root on restart and
// not submitted twice.
package zkstore
