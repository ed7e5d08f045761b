package rollup

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// BatchVersion is the version byte of batch data.
const BatchVersion = 1

const batchHeader = 1 + 1 + 32 + 2

// MaxBatch is the largest number of transfers batch data may hold.
const MaxBatch = 1024

// BatchData is the decoded batch data a batch's proof commits to (layout in
// the package doc).
type BatchData struct {
	Depth     int      // depth of the account tree
	RegionTag [32]byte // RegionTag(region)
	Transfers []Transfer
}

// Encode returns the batch data bytes.
func (d BatchData) Encode() []byte {
	b := make([]byte, 0, batchHeader+len(d.Transfers)*TransferSize)
	b = append(b, BatchVersion, byte(d.Depth))
	b = append(b, d.RegionTag[:]...)
	b = append(b, byte(len(d.Transfers)>>8), byte(len(d.Transfers)))
	for _, t := range d.Transfers {
		b = t.AppendBinary(b)
	}
	return b
}

// DecodeBatch parses batch data. Errors wrap ErrMalformed.
func DecodeBatch(b []byte) (BatchData, error) {
	if len(b) < batchHeader {
		return BatchData{}, fmt.Errorf("%w: batch data of %d bytes is shorter than its header", ErrMalformed, len(b))
	}
	if b[0] != BatchVersion {
		return BatchData{}, fmt.Errorf("%w: batch data version %d, want %d", ErrMalformed, b[0], BatchVersion)
	}
	d := BatchData{Depth: int(b[1])}
	if err := checkDepth(d.Depth); err != nil {
		return BatchData{}, fmt.Errorf("%w: batch data names tree depth %d", ErrMalformed, d.Depth)
	}
	copy(d.RegionTag[:], b[2:34])
	if _, err := elementOf(d.RegionTag); err != nil {
		return BatchData{}, err
	}
	n := int(b[34])<<8 | int(b[35])
	if n == 0 || n > MaxBatch {
		return BatchData{}, fmt.Errorf("%w: batch of %d transfers (1..%d)", ErrMalformed, n, MaxBatch)
	}
	if len(b) != batchHeader+n*TransferSize {
		return BatchData{}, fmt.Errorf("%w: batch data of %d bytes for %d transfers", ErrMalformed, len(b), n)
	}
	d.Transfers = make([]Transfer, n)
	for i := range d.Transfers {
		off := batchHeader + i*TransferSize
		t, err := ParseTransfer(b[off : off+TransferSize])
		if err != nil {
			return BatchData{}, err
		}
		if uint64(t.From)>>d.Depth != 0 || uint64(t.To)>>d.Depth != 0 {
			return BatchData{}, fmt.Errorf("%w: transfer %d names an index beyond depth %d", ErrMalformed, i, d.Depth)
		}
		d.Transfers[i] = t
	}
	return d, nil
}

// Commitment is the batch's public commitment c_n (package doc). Errors wrap
// ErrMalformed (a receiver key that is not a curve point).
func (d BatchData) Commitment() ([32]byte, error) {
	tag, err := elementOf(d.RegionTag)
	if err != nil {
		return [32]byte{}, err
	}
	c := commitmentStart(tag, d.Depth)
	for i, t := range d.Transfers {
		packed, tk, err := t.parts()
		if err != nil {
			return [32]byte{}, fmt.Errorf("transfer %d: %w", i, err)
		}
		c = compress4([4]fr.Element{c, packed, tk, {}})
	}
	return c.Bytes(), nil
}

// commitmentStart is c_0 = C4(regionTag, depth, BatchVersion, 0): the batch
// data's header is bound too, so one batch's data cannot be read at another
// depth or version.
func commitmentStart(tag fr.Element, depth int) fr.Element {
	var dv, vv fr.Element
	dv.SetUint64(uint64(depth))
	vv.SetUint64(BatchVersion)
	return compress4([4]fr.Element{tag, dv, vv, {}})
}

// BatchRegion returns the region tag named by batch data, so that a chain can
// check a batch is for the region it is submitted to (compare it with
// RegionTag(region)). Errors wrap ErrMalformed.
func BatchRegion(txData []byte) ([32]byte, error) {
	d, err := DecodeBatch(txData)
	if err != nil {
		return [32]byte{}, err
	}
	return d.RegionTag, nil
}
