package verifier

import (
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/proofs"
	"github.com/ppstore/ppstore/shard"
	"github.com/ppstore/ppstore/wire"
)

// Verdict is the judgement of one replica in one round.
type Verdict uint8

// Verdicts. Only VerdictPass is a pass.
const (
	VerdictPass     Verdict = 0
	VerdictInvalid  Verdict = 1 // the proof did not verify (or the response was malformed, stale, for another miner)
	VerdictMissing  Verdict = 2 // the response had no proof for the replica
	VerdictLate     Verdict = 3 // the response came after the deadline
	VerdictNoAnswer Verdict = 4 // the miner could not be reached or sent nothing usable
	// VerdictUnsigned: the response's parts are not signed by the miner
	// for this round and verifier (wire.VerifyPoSt). An honest verifier
	// records a response only as received, so a recorded response that
	// Check finds unsigned under another verdict was altered or invented.
	VerdictUnsigned Verdict = 5
)

func (v Verdict) String() string {
	switch v {
	case VerdictPass:
		return "pass"
	case VerdictInvalid:
		return "invalid"
	case VerdictMissing:
		return "missing"
	case VerdictLate:
		return "late"
	case VerdictNoAnswer:
		return "no answer"
	case VerdictUnsigned:
		return "unsigned"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// RoundRecord is a judged round as the verifier keeps it (one file per
// epoch under <data_dir>/rounds/, for KeepEpochs epochs): everything needed
// to judge the round again without the verifier, from the commitments
// alone (`verifier check FILE`).
//
//	"PPRD" ‖ ver(1)=2 ‖ anchor(32) ‖ epoch(8) ‖ seed(32) ‖ rounds(4) ‖ min seal blocks(4) ‖ PoRep K(4) ‖ PoSt C(4)
//	‖ verifier peer
//	‖ miners(4) × [ peer ‖ deadline(8) ‖ received(8) ‖ answered(1)
//	               ‖ replicas(4) × [ shard CID ‖ size(8) ‖ piece size(4) ‖ layers(4) ‖ commR(32) ‖ verdict(1) ]
//	               ‖ parts(4) × [ len(4) ‖ proofs.PoStResponse encoding ]
//	               ‖ streams(4) × [ parts(4) ‖ len(4) ‖ ed25519 signature ] ]
//
// Times are unix nanoseconds; byte strings (peer, CID, signature) carry a
// 4-byte length. Version 1 had no verifier and no signatures; it is not
// read (a round is kept for KeepEpochs only).
type RoundRecord struct {
	Anchor   [32]byte
	Epoch    uint64
	Seed     [32]byte
	Params   proofs.Params
	Verifier identity.PeerID // whom the miners answered: their signatures name it
	Miners   []MinerRound
}

// MinerRound is one miner's part of a round.
type MinerRound struct {
	Miner    identity.PeerID
	Deadline time.Time
	Received time.Time // when the last part arrived
	Answered bool      // false: no usable answer (unreachable, broken stream)
	Replicas []RoundReplica
	Parts    [][]byte       // the response parts as received
	Streams  []SignedStream // the miner's signature of each challenge stream's parts, in order
}

// SignedStream is the miner's signature (wire.SignPoSt) of the next Parts
// response parts: those of one challenge stream.
type SignedStream struct {
	Parts int
	Sig   []byte
}

// signed reports whether every response part of m is covered, in order,
// by a valid signature of m's miner for this round and verifier.
func (m *MinerRound) signed(epoch uint64, seed [32]byte, verifier identity.PeerID) bool {
	if len(m.Streams) == 0 {
		return false
	}
	at := 0
	for _, st := range m.Streams {
		if st.Parts < 1 || st.Parts > len(m.Parts)-at {
			return false
		}
		if !wire.VerifyPoSt(m.Miner, st.Sig, epoch, seed, verifier, m.Parts[at:at+st.Parts]) {
			return false
		}
		at += st.Parts
	}
	return at == len(m.Parts)
}

// RoundReplica is one replica asked about, its commitments and verdict.
type RoundReplica struct {
	Shard     cid.Cid
	Size      int64
	PieceSize int64
	Layers    int
	CommR     shard.Digest
	Verdict   Verdict
}

func (r *RoundReplica) replica(miner identity.PeerID) (*proofs.Replica, error) {
	root, err := shard.DigestOf(r.Shard, shard.ShardCodec)
	if err != nil {
		return nil, err
	}
	return &proofs.Replica{Miner: miner.Bytes(), CommD: root, Size: r.Size, PieceSize: r.PieceSize, Layers: r.Layers, CommR: r.CommR}, nil
}

// judge computes the verdicts of one miner's round from its recorded
// response. It is the whole of the verifier's judgement: the round chore
// and Check both call it. A response not signed by the miner for this
// round and verifier is invalid whatever it holds.
func judge(round *proofs.Round, p proofs.Params, verifier identity.PeerID, m *MinerRound) ([]Verdict, error) {
	out := make([]Verdict, len(m.Replicas))
	all := func(v Verdict) []Verdict {
		for i := range out {
			out[i] = v
		}
		return out
	}
	if !m.Answered {
		return all(VerdictNoAnswer), nil
	}
	if !m.signed(round.Epoch, round.Seed, verifier) {
		return all(VerdictUnsigned), nil
	}
	asked := make([]*proofs.Replica, len(m.Replicas))
	for i := range m.Replicas {
		r, err := m.Replicas[i].replica(m.Miner)
		if err != nil {
			return nil, fmt.Errorf("verifier: replica %d of %s: %w", i, m.Miner.Short(), err)
		}
		asked[i] = r
	}
	resp := &proofs.PoStResponse{Epoch: round.Epoch}
	for _, part := range m.Parts {
		pr, err := proofs.ParsePoStResponse(part)
		if err != nil || pr.Epoch != round.Epoch {
			return all(VerdictInvalid), nil
		}
		resp.Proofs = append(resp.Proofs, pr.Proofs...)
	}
	verdicts, err := proofs.VerifyPoSt(round, p, m.Miner.Bytes(), asked, resp, m.Received)
	switch {
	case errors.Is(err, proofs.ErrLate):
		return all(VerdictLate), nil
	case err != nil:
		return all(VerdictInvalid), nil
	}
	for i, v := range verdicts {
		switch {
		case v == nil:
			out[i] = VerdictPass
		case errors.Is(v, proofs.ErrMissing):
			out[i] = VerdictMissing
		default:
			out[i] = VerdictInvalid
		}
	}
	return out, nil
}

// Mismatch is a recorded verdict that judging the round again contradicts.
type Mismatch struct {
	Miner    identity.PeerID
	Shard    cid.Cid
	Recorded Verdict
	Judged   Verdict
}

func (m Mismatch) String() string {
	return fmt.Sprintf("miner %s shard %v: recorded %v, judged %v", m.Miner.Short(), m.Shard, m.Recorded, m.Judged)
}

// ErrBadSeed reports a round whose seed is not the committed chain's.
var ErrBadSeed = errors.New("verifier: the round's seed does not hash to the chain's anchor")

// Check judges a recorded round again from its commitments alone: the
// seed against the anchor, then every miner's response against the
// replicas' commR. It returns the verdicts that differ from the record.
// Verdicts of miners that did not answer cannot be re-judged (nothing was
// received) and are taken as recorded.
func Check(rec *RoundRecord) ([]Mismatch, error) {
	if !CheckChainSeed(rec.Anchor, rec.Epoch, rec.Seed) {
		return nil, fmt.Errorf("%w (epoch %d)", ErrBadSeed, rec.Epoch)
	}
	var out []Mismatch
	for i := range rec.Miners {
		m := &rec.Miners[i]
		round := &proofs.Round{Epoch: rec.Epoch, Seed: rec.Seed, Deadline: m.Deadline}
		verdicts, err := judge(round, rec.Params, rec.Verifier, m)
		if err != nil {
			return nil, err
		}
		for j, v := range verdicts {
			if v != m.Replicas[j].Verdict {
				out = append(out, Mismatch{Miner: m.Miner, Shard: m.Replicas[j].Shard, Recorded: m.Replicas[j].Verdict, Judged: v})
			}
		}
	}
	return out, nil
}

var roundMagic = []byte("PPRD")

// Append appends the record's encoding (drawn in the type's comment).
func (rec *RoundRecord) Append(b []byte) []byte {
	e := wire.Enc{B: append(b, roundMagic...)}
	e.U8(2)
	e.Digest(rec.Anchor)
	e.U64(rec.Epoch)
	e.Digest(rec.Seed)
	e.U32(uint32(rec.Params.Rounds))
	e.U32(uint32(rec.Params.MinSealBlocks))
	e.U32(uint32(rec.Params.PoRepChallenges))
	e.U32(uint32(rec.Params.PoStChallenges))
	e.Peer(rec.Verifier)
	e.U32(uint32(len(rec.Miners)))
	for _, m := range rec.Miners {
		e.Peer(m.Miner)
		e.U64(uint64(m.Deadline.UnixNano()))
		e.U64(uint64(m.Received.UnixNano()))
		e.Bool(m.Answered)
		e.U32(uint32(len(m.Replicas)))
		for _, r := range m.Replicas {
			e.CID(r.Shard)
			e.U64(uint64(r.Size))
			e.U32(uint32(r.PieceSize))
			e.U32(uint32(r.Layers))
			e.Digest(r.CommR)
			e.U8(uint8(r.Verdict))
		}
		e.U32(uint32(len(m.Parts)))
		for _, p := range m.Parts {
			e.Bytes(p)
		}
		e.U32(uint32(len(m.Streams)))
		for _, st := range m.Streams {
			e.U32(uint32(st.Parts))
			e.Bytes(st.Sig)
		}
	}
	return e.B
}

// ParseRoundRecord decodes Append's output.
func ParseRoundRecord(b []byte) (*RoundRecord, error) {
	if len(b) < 5 || string(b[:4]) != string(roundMagic) {
		return nil, errors.New("verifier: not a round record (no PPRD header)")
	}
	d := wire.NewDec(b[4:])
	if v := d.U8(); v != 2 {
		return nil, fmt.Errorf("verifier: round record version %d, this verifier reads 2 (rounds of version 1 were unsigned)", v)
	}
	rec := &RoundRecord{Anchor: d.Digest(), Epoch: d.U64(), Seed: d.Digest()}
	rec.Params = proofs.Params{Rounds: int(d.U32()), MinSealBlocks: int(d.U32()), PoRepChallenges: int(d.U32()), PoStChallenges: int(d.U32())}
	rec.Verifier = d.Peer()
	n := d.Count(4 + 8 + 8 + 1 + 4 + 4 + 4)
	for i := 0; i < n && d.Err() == nil; i++ {
		m := MinerRound{Miner: d.Peer()}
		m.Deadline = time.Unix(0, int64(d.U64()))
		m.Received = time.Unix(0, int64(d.U64()))
		m.Answered = d.Bool()
		k := d.Count(4 + 8 + 4 + 4 + 32 + 1)
		for j := 0; j < k && d.Err() == nil; j++ {
			r := RoundReplica{Shard: d.CID(), Size: int64(d.U64()), PieceSize: int64(d.U32()), Layers: int(d.U32()), CommR: d.Digest(), Verdict: Verdict(d.U8())}
			m.Replicas = append(m.Replicas, r)
		}
		np := d.Count(4)
		for j := 0; j < np && d.Err() == nil; j++ {
			m.Parts = append(m.Parts, d.Bytes())
		}
		ns := d.Count(8)
		for j := 0; j < ns && d.Err() == nil; j++ {
			m.Streams = append(m.Streams, SignedStream{Parts: int(d.U32()), Sig: d.Bytes()})
		}
		rec.Miners = append(rec.Miners, m)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("verifier: round record: %w", err)
	}
	if err := rec.Params.Validate(); err != nil {
		return nil, fmt.Errorf("verifier: round record: %w", err)
	}
	return rec, nil
}
