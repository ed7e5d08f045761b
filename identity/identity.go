// Package identity owns a node's long-lived ed25519 key and the peer ID derived
// from it. It does not know about connections or messages.
//
// A peer ID is the multihash of the raw 32-byte ed25519 public key under the
// identity hash function (code 0x00), so a peer ID carries its own public key
// and any signature can be checked from the peer ID alone:
//
//	peer ID bytes: 0x00 (identity) | 0x20 (length 32) | ed25519 public key (32 bytes)
//	text form:     base58btc of those 34 bytes
//
// The private key is stored as a PEM file ("PPSTORE ED25519 KEY", the 32-byte
// seed) with file mode 0600 in the node's data directory.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	mh "github.com/multiformats/go-multihash"
)

// KeyFile is the conventional file name of a node's key inside its data directory.
const KeyFile = "identity.key"

const pemType = "PPSTORE ED25519 KEY"

var (
	// ErrBadPeerID reports a peer ID that is not an identity multihash of an ed25519 key.
	ErrBadPeerID = errors.New("identity: malformed peer ID")
	// ErrBadKeyFile reports an unreadable or malformed key file.
	ErrBadKeyFile = errors.New("identity: malformed key file")
)

// PeerID identifies a node. Its zero value is invalid. It is comparable and can
// be used as a map key; its bytes are the identity multihash of the public key.
type PeerID struct{ b string }

// Key is a node's private identity.
type Key struct {
	priv ed25519.PrivateKey
	id   PeerID
}

// Generate makes a fresh random key.
func Generate() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return FromPrivate(priv), nil
}

// FromPrivate wraps an ed25519 private key.
func FromPrivate(priv ed25519.PrivateKey) *Key {
	return &Key{priv: priv, id: IDFromPublicKey(priv.Public().(ed25519.PublicKey))}
}

// FromSeed derives a key from a 32-byte seed (tests use it for stable IDs).
func FromSeed(seed []byte) *Key { return FromPrivate(ed25519.NewKeyFromSeed(seed)) }

// ID returns the key's peer ID.
func (k *Key) ID() PeerID { return k.id }

// Private returns the ed25519 private key (for TLS certificates).
func (k *Key) Private() ed25519.PrivateKey { return k.priv }

// Public returns the ed25519 public key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// Sign signs msg with the key.
func (k *Key) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// LoadOrCreate reads the key at path, creating it (mode 0600, parent dirs 0700)
// if it does not exist. A key file readable by others is refused.
func LoadOrCreate(path string) (*Key, error) {
	k, err := Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = Generate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: k.priv.Seed()})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("identity: create key: %w", err)
	}
	if _, err := f.Write(block); err != nil {
		f.Close()
		return nil, fmt.Errorf("identity: write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("identity: sync key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("identity: close key: %w", err)
	}
	return k, nil
}

// Load reads an existing key file.
func Load(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600 (run chmod 600 %s)", ErrBadKeyFile, path, st.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != pemType || len(block.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: %s", ErrBadKeyFile, path)
	}
	return FromSeed(block.Bytes), nil
}

// IDFromPublicKey derives the peer ID of an ed25519 public key.
func IDFromPublicKey(pub ed25519.PublicKey) PeerID {
	b, err := mh.Encode(pub, mh.IDENTITY)
	if err != nil { // only for unknown codes
		panic(err)
	}
	return PeerID{b: string(b)}
}

// IDFromBytes parses the binary form of a peer ID.
func IDFromBytes(b []byte) (PeerID, error) {
	dec, err := mh.Decode(b)
	if err != nil || dec.Code != mh.IDENTITY || len(dec.Digest) != ed25519.PublicKeySize {
		return PeerID{}, fmt.Errorf("%w: want an identity multihash of a 32-byte ed25519 key", ErrBadPeerID)
	}
	return PeerID{b: string(b)}, nil
}

// Parse parses the text (base58btc) form of a peer ID.
func Parse(s string) (PeerID, error) {
	m, err := mh.FromB58String(s)
	if err != nil {
		return PeerID{}, fmt.Errorf("%w: %q", ErrBadPeerID, s)
	}
	return IDFromBytes(m)
}

// String returns the base58btc text form.
func (p PeerID) String() string {
	if p.b == "" {
		return "<no peer>"
	}
	return mh.Multihash(p.b).B58String()
}

// Short returns an abbreviation for logs and tables.
func (p PeerID) Short() string {
	s := p.String()
	if len(s) > 10 {
		return s[len(s)-10:]
	}
	return s
}

// Bytes returns the binary form.
func (p PeerID) Bytes() []byte { return []byte(p.b) }

// IsZero reports whether p is the zero value.
func (p PeerID) IsZero() bool { return p.b == "" }

// PublicKey returns the ed25519 public key inside the peer ID.
func (p PeerID) PublicKey() ed25519.PublicKey {
	if len(p.b) != 2+ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(p.b[2:])
}

// Verify checks sig over msg against the peer's public key.
func (p PeerID) Verify(msg, sig []byte) bool {
	pub := p.PublicKey()
	return pub != nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig)
}

// MarshalText implements encoding.TextMarshaler (for TOML and JSON).
func (p PeerID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *PeerID) UnmarshalText(b []byte) error {
	id, err := Parse(string(b))
	if err != nil {
		return err
	}
	*p = id
	return nil
}
