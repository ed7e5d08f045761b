package rollup

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadOrCreateKeyFile reads an account private key from path (hex text of
// PrivateKey.Bytes, mode 0600) or, if the file does not exist, makes a new
// key and writes it there. A key file readable by group or others is refused.
func LoadOrCreateKeyFile(path string) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(k.Bytes())+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("rollup: write account key: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("rollup: write account key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollup: read account key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("rollup: account key %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: account key %s is not hex", ErrMalformed, path)
	}
	return ParsePrivateKey(raw)
}
