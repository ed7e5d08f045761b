// Package config reads the TOML files that configure ppstore's binaries and
// holds the small value types they share (byte sizes, peer addresses). It
// knows no daemon's settings: each daemon declares its own Config struct.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/wire"
)

// Load decodes the TOML file at path into v. Unknown keys are an error, so a
// misspelt setting is reported instead of silently ignored.
func Load(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	md, err := toml.Decode(string(raw), v)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown keys %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// Write encodes v as TOML to path (mode 0600), replacing the file atomically.
func Write(path string, v any) error {
	var sb strings.Builder
	if err := toml.NewEncoder(&sb).Encode(v); err != nil {
		return fmt.Errorf("config: encode: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return os.Rename(tmp, path)
}

// ByteSize is a number of bytes written as "4MiB", "100 GiB", "1.5GB" or "1048576".
type ByteSize int64

var units = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

// ParseByteSize parses a size such as "4MiB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q: want a number with an optional unit such as 4MiB or 100GB", s)
	}
	return ByteSize(f * mult), nil
}

func (b ByteSize) String() string {
	v := float64(b)
	for _, u := range []struct {
		s string
		m float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.m {
			return strconv.FormatFloat(v/u.m, 'f', -1, 64) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ErrBadPeerAddr reports a peer address that is not "peerID@host:port".
var ErrBadPeerAddr = errors.New("config: bad peer address")

// ParsePeerAddr parses "peerID@host:port".
func ParsePeerAddr(s string) (wire.NodeAddr, error) {
	id, addr, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok || addr == "" {
		return wire.NodeAddr{}, fmt.Errorf("%w %q: want PEERID@HOST:PORT", ErrBadPeerAddr, s)
	}
	p, err := identity.Parse(id)
	if err != nil {
		return wire.NodeAddr{}, fmt.Errorf("%w %q: %v", ErrBadPeerAddr, s, err)
	}
	return wire.NodeAddr{Peer: p, Addr: addr}, nil
}

// FormatPeerAddr is the inverse of ParsePeerAddr.
func FormatPeerAddr(a wire.NodeAddr) string { return a.Peer.String() + "@" + a.Addr }
