package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/ppstore/ppstore/sidechain"
)

// An operator's path to a shared genesis: each validator runs init, the
// info lines and a regions file make genesis.json, and init --genesis
// installs it in every home.
func TestInitGenesisInstall(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for _, name := range []string{"a", "b"} {
		var out, errb bytes.Buffer
		if code := run([]string{"init", "--home", filepath.Join(dir, name)}, &out, &errb); code != 0 {
			t.Fatalf("init %s: %s", name, errb.String())
		}
		lines = append(lines, strings.TrimSpace(out.String()))
	}
	vals := filepath.Join(dir, "validators.jsonl")
	os.WriteFile(vals, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	regions := filepath.Join(dir, "regions.json")
	os.WriteFile(regions, []byte(fmt.Sprintf(`{"regions": [{"name": "north", "root": "%s", "vk": "%s"}]}`,
		strings.Repeat("ab", 32), base64.StdEncoding.EncodeToString([]byte("vk")))), 0o644)
	gen := filepath.Join(dir, "genesis.json")
	var out, errb bytes.Buffer
	if code := run([]string{"genesis", "--chain-id", "ppstore-test", "--validators", vals, "--regions", regions, "-o", gen}, &out, &errb); code != 0 {
		t.Fatalf("genesis: %s", errb.String())
	}
	doc, err := cmttypes.GenesisDocFromFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Validators) != 2 || doc.ChainID != "ppstore-test" {
		t.Fatalf("genesis: %d validators, chain %q", len(doc.Validators), doc.ChainID)
	}
	if gs, err := sidechain.ReadGenesisState(doc); err != nil || len(gs.Regions) != 1 {
		t.Fatalf("genesis regions: %+v %v", gs, err)
	}
	for _, name := range []string{"a", "b"} {
		errb.Reset()
		out.Reset()
		if code := run([]string{"init", "--home", filepath.Join(dir, name), "--genesis", gen}, &out, &errb); code != 0 {
			t.Fatalf("init --genesis %s: %s", name, errb.String())
		}
		if strings.TrimSpace(out.String()) != lines[map[string]int{"a": 0, "b": 1}[name]] {
			t.Fatalf("init again changed the validator's info: %s", out.String())
		}
		out.Reset()
		if code := run([]string{"show-node-id", "--home", filepath.Join(dir, name)}, &out, &errb); code != 0 || len(strings.TrimSpace(out.String())) != 40 {
			t.Fatalf("show-node-id: %q %s", out.String(), errb.String())
		}
	}

	// A devnet's one-validator chain.
	errb.Reset()
	out.Reset()
	single := filepath.Join(dir, "single")
	if code := run([]string{"init", "--home", single, "--single", regions}, &out, &errb); code != 0 {
		t.Fatalf("init --single: %s", errb.String())
	}
	sdoc, err := cmttypes.GenesisDocFromFile(filepath.Join(single, "config", "genesis.json"))
	if err != nil || len(sdoc.Validators) != 1 || sdoc.ChainID != "ppstore-devnet" {
		t.Fatalf("single genesis: %v %+v", err, sdoc)
	}
	if info, _ := sidechain.UnmarshalValidatorInfo(out.Bytes()); info.PubKey == nil || !bytes.Equal(info.PubKey.Bytes(), sdoc.Validators[0].PubKey.Bytes()) {
		t.Fatal("single genesis does not name the home's validator")
	}

	// Bad inputs say what is wrong.
	os.WriteFile(regions, []byte(`{"regions": [{"name": "north", "root": "zz", "vk": "dms="}]}`), 0o644)
	errb.Reset()
	if code := run([]string{"genesis", "--chain-id", "x", "--validators", vals, "--regions", regions}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "hex") {
		t.Fatalf("bad root: code %d, %s", code, errb.String())
	}
	os.WriteFile(vals, []byte("{not json\n"), 0o644)
	errb.Reset()
	if code := run([]string{"genesis", "--chain-id", "x", "--validators", vals, "--regions", regions}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "line 1") {
		t.Fatalf("bad validator line: code %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"start", "--home", filepath.Join(dir, "none")}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "genesis") {
		t.Fatalf("start without init: code %d, %s", code, errb.String())
	}
}
