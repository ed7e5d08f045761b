package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/ppstore/ppstore/"

// daemons are the packages that implement one binary's service.
var daemons = []string{"bootstrap", "indexer", "miner", "verifier", "zkstore"}

func isDaemon(pkg string) (string, bool) {
	rel := strings.TrimPrefix(pkg, module)
	for _, d := range daemons {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return d, true
		}
	}
	return "", false
}

func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps=false", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
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
		if strings.HasPrefix(p.ImportPath, module+"cmd/") || strings.HasSuffix(p.ImportPath, "archtest") {
			continue
		}
		self, selfIsDaemon := isDaemon(p.ImportPath)
		for _, dep := range p.Deps {
			d, ok := isDaemon(dep)
			if !ok || d == self {
				continue
			}
			checked++
			if selfIsDaemon {
				t.Errorf("daemon %s depends on daemon %s", p.ImportPath, dep)
			} else {
				t.Errorf("library %s depends on daemon %s", p.ImportPath, dep)
			}
		}
	}
	t.Logf("%d cross-daemon dependencies found", checked)
}
