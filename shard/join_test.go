package shard

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestJoinRejects(t *testing.T) {
	data := genBytes(3, 1000)
	p := Params{ShardSize: 256, PieceSize: 64}
	var shards [][]byte
	m, err := Split(bytes.NewReader(data), p, func(s *Shard) error {
		shards = append(shards, s.Data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := func(i int, f func([]byte) []byte) func(int) ([]byte, error) {
		return func(j int) ([]byte, error) {
			if j == i {
				return f(bytes.Clone(shards[j])), nil
			}
			return shards[j], nil
		}
	}
	for name, fetch := range map[string]func(int) ([]byte, error){
		"flipped byte":      bad(1, func(b []byte) []byte { b[100] ^= 0x01; return b }),
		"flipped last byte": bad(3, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }),
		"short shard":       bad(0, func(b []byte) []byte { return b[:len(b)-1] }),
		"short last shard":  bad(3, func(b []byte) []byte { return b[:len(b)-1] }),
		"long shard":        bad(2, func(b []byte) []byte { return append(b, 0) }),
		"long last shard":   bad(3, func(b []byte) []byte { return append(b, 0) }),
		"empty shard":       bad(3, func(b []byte) []byte { return nil }),
		"swapped shards":    func(i int) ([]byte, error) { return shards[i^1], nil },
	} {
		var out bytes.Buffer
		err := Join(&out, m, fetch)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "shard ") {
			t.Errorf("%s: Join err = %v, want ErrCorrupt naming the shard", name, err)
		}
		// Nothing unchecked reaches the writer.
		if !bytes.HasPrefix(data, out.Bytes()) || out.Len()%int(p.ShardSize) != 0 {
			t.Errorf("%s: Join wrote %d bytes that are not whole checked shards", name, out.Len())
		}
	}
}

func TestJoinErrors(t *testing.T) {
	data := genBytes(4, 300)
	var shards [][]byte
	m, _ := Split(bytes.NewReader(data), Params{ShardSize: 128, PieceSize: 64}, func(s *Shard) error {
		shards = append(shards, s.Data)
		return nil
	})
	fetch := func(i int) ([]byte, error) { return shards[i], nil }

	boom := errors.New("boom")
	err := Join(io.Discard, m, func(i int) ([]byte, error) {
		if i == 1 {
			return nil, boom
		}
		return shards[i], nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("failing fetch: %v", err)
	}
	if err := Join(failWriter{boom}, m, fetch); !errors.Is(err, boom) {
		t.Errorf("failing writer: %v", err)
	}
	broken := *m
	broken.Shards = broken.Shards[:2]
	if err := Join(io.Discard, &broken, fetch); !errors.Is(err, ErrBadManifest) {
		t.Errorf("inconsistent manifest: %v", err)
	}

	empty, _ := Split(bytes.NewReader(nil), Params{}, nil)
	if err := Join(io.Discard, empty, func(int) ([]byte, error) { panic("fetch called for an empty file") }); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestCheckShard(t *testing.T) {
	data := genBytes(5, 200)
	m, _ := Split(bytes.NewReader(data), Params{ShardSize: 128, PieceSize: 32}, nil)
	if err := CheckShard(m, 0, data[:128]); err != nil {
		t.Error(err)
	}
	if err := CheckShard(m, 1, data[128:]); err != nil {
		t.Error(err)
	}
	if err := CheckShard(m, 1, data[:128]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("shard 0 as shard 1: %v", err)
	}
	for _, i := range []int{-1, 2} {
		if err := CheckShard(m, i, data[:128]); !errors.Is(err, ErrBadParams) {
			t.Errorf("CheckShard(%d): %v, want ErrBadParams", i, err)
		}
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
