package sidechain

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cometbft/cometbft/crypto"
	cmttypes "github.com/cometbft/cometbft/types"
)

// GenesisRegion registers one region in genesis: its name, the root of its
// initial account tree (hex, 32 bytes) and the verifying key of its batch
// circuit (base64 in JSON, as produced by the circuit's key setup).
type GenesisRegion struct {
	Name string `json:"name"`
	Root string `json:"root"`
	VK   []byte `json:"vk"`
}

// GenesisState is the app_state of the chain's genesis.json:
//
//	{"regions": [{"name": "devnet", "root": "<64 hex>", "vk": "<base64>"}]}
//
// The deposit/withdraw seam of the public-chain bridge will add its own
// fields here (the Manager contract's address and the bridge's validators);
// the rollup module ignores fields it does not know.
type GenesisState struct {
	Regions []GenesisRegion `json:"regions"`
}

// Validate checks names, roots and keys, and that no region repeats.
func (g *GenesisState) Validate() error {
	_, err := g.state()
	return err
}

func (g *GenesisState) state() (state, error) {
	s := state{}
	for i, gr := range g.Regions {
		if err := ValidRegionName(gr.Name); err != nil {
			return nil, fmt.Errorf("sidechain: genesis region %d: %w", i, err)
		}
		if _, dup := s[gr.Name]; dup {
			return nil, fmt.Errorf("sidechain: genesis registers region %q twice", gr.Name)
		}
		root, err := ParseRoot(gr.Root)
		if err != nil {
			return nil, fmt.Errorf("sidechain: genesis region %s: %w", gr.Name, err)
		}
		if len(gr.VK) == 0 {
			return nil, fmt.Errorf("sidechain: genesis region %s has no verifying key; put the circuit's verifying key in its vk field", gr.Name)
		}
		r := &region{vk: slices.Clone(gr.VK)}
		r.Region, r.Root, r.VKHash = gr.Name, root, vkHash(gr.VK)
		s[gr.Name] = r
	}
	return s, nil
}

// ParseRoot parses a 32-byte root written as 64 hex digits.
func ParseRoot(s string) ([32]byte, error) {
	var r [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return r, fmt.Errorf("root %q is not 64 hex digits", s)
	}
	copy(r[:], b)
	return r, nil
}

// GenesisValidator is one validator of the PoA set fixed in genesis.
type GenesisValidator struct {
	Name   string
	PubKey crypto.PubKey
	Power  int64 // voting power; 0 means 10
}

// NewGenesis builds the chain's genesis document: chain ID, the validator
// set (proof of authority: the set never changes, the application returns
// no validator updates) and the regions.
func NewGenesis(chainID string, vals []GenesisValidator, gs GenesisState) (*cmttypes.GenesisDoc, error) {
	if err := gs.Validate(); err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("sidechain: genesis needs at least one validator")
	}
	appState, err := json.Marshal(gs)
	if err != nil {
		return nil, err
	}
	doc := &cmttypes.GenesisDoc{
		GenesisTime:     time.Now().UTC().Truncate(time.Second),
		ChainID:         chainID,
		InitialHeight:   1,
		ConsensusParams: cmttypes.DefaultConsensusParams(),
		AppState:        appState,
	}
	for _, v := range vals {
		p := v.Power
		if p == 0 {
			p = 10
		}
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{
			Address: v.PubKey.Address(), PubKey: v.PubKey, Power: p, Name: v.Name,
		})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("sidechain: genesis: %w", err)
	}
	return doc, nil
}

// ReadGenesisState returns the app_state of doc.
func ReadGenesisState(doc *cmttypes.GenesisDoc) (GenesisState, error) {
	var gs GenesisState
	if err := json.Unmarshal(doc.AppState, &gs); err != nil {
		return gs, fmt.Errorf("sidechain: genesis app_state: %w", err)
	}
	return gs, gs.Validate()
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
