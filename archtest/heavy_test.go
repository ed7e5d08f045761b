package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// heavyAllowed lists the packages that may depend on gnark or CometBFT,
// whose cold build takes minutes on two cores: the rollup and its users.
// Every other package must build without them.
var heavyAllowed = map[string]bool{
	"rollup": true, "zkstore": true, "wallet": true, "sidechain": true, "devnet": true,
	"cmd/ppstore": true, "cmd/zkstore": true, "cmd/sidechain": true, "e2e": true,
	"verifier/zkpay": true, "cmd/verifier": true, // the verifier's zkStore payments (its core stays light)
}

func TestHeavyDependenciesStayPut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module)
		if heavyAllowed[rel] {
			continue
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "github.com/consensys/gnark") || strings.HasPrefix(d, "github.com/cometbft/cometbft") {
				t.Errorf("%s depends on %s; only %v may (keep proofs and the chain out of the rest)", rel, d, keys(heavyAllowed))
				break
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
