package zkstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/wire"
)

// StatusJSON is `zkstore status --json`.
type StatusJSON struct {
	Region      string `json:"region"`
	TreeDepth   int    `json:"tree_depth"`
	BatchSize   int    `json:"batch_size"`
	Pending     uint64 `json:"pending_transfers"`
	Batches     uint64 `json:"batches"`
	LastBatch   uint64 `json:"last_proven_batch"`
	LastSize    uint32 `json:"last_batch_size"`
	LastProofMs uint64 `json:"last_proof_ms"`
	LastState   string `json:"last_batch_state"`
	Accepted    uint64 `json:"accepted_batch"`
	ChainHeight uint64 `json:"chain_height"`
	PendingRoot string `json:"pending_root"`
	ProvenRoot  string `json:"proven_root"`
}

var stateNames = map[uint8]string{0: "none", wire.BatchCut: "sealed", wire.BatchProven: "proven", wire.BatchAccepted: "accepted"}

// StatusCommand implements `zkstore status`: it asks a running operator (named
// by its data directory's node.json or by --addr) for its status and prints it.
func StatusCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("zkstore status", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data `dir` of a running operator")
	addr := fs.String("addr", "", "`peerID@host:port` of the operator")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var to wire.NodeAddr
	switch {
	case *addr != "":
		as, err := discover.ParseSeeds([]string{*addr})
		if err != nil || len(as) != 1 {
			return fmt.Errorf("--addr %q: want peerID@host:port", *addr)
		}
		to = as[0]
	case *dataDir != "":
		info, err := daemon.ReadInfo(*dataDir)
		if err != nil {
			return fmt.Errorf("no running operator in %s (%v); start it or pass --addr", *dataDir, err)
		}
		id, err := identity.Parse(info.Peer)
		if err != nil {
			return err
		}
		to = wire.NodeAddr{Peer: id, Addr: info.Addr}
	default:
		return errors.New("name the operator with --data-dir or --addr")
	}
	key, err := identity.Generate()
	if err != nil {
		return err
	}
	n, err := transport.Listen(transport.Config{Key: key, Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var st wire.ZkStatus
	if err := n.Call(ctx, to, &wire.GetZkStatus{}, &st); err != nil {
		return fmt.Errorf("status of %s: %w", to.Addr, err)
	}
	j := StatusJSON{Region: st.Region, TreeDepth: int(st.Depth), BatchSize: int(st.BatchSize), Pending: st.Pending,
		Batches: st.Batches, LastBatch: st.LastBatch, LastSize: st.LastSize, LastProofMs: st.LastProofMs,
		LastState: stateNames[st.LastState], Accepted: st.ProvenBatch, ChainHeight: st.ChainHeight,
		PendingRoot: hex.EncodeToString(st.PendingRoot[:]), ProvenRoot: hex.EncodeToString(st.ProvenRoot[:])}
	if *asJSON {
		b, _ := json.MarshalIndent(j, "", "  ")
		_, err := fmt.Fprintln(out, string(b))
		return err
	}
	fmt.Fprintf(out, "region            %s (tree depth %d, batches of %d)\n", j.Region, j.TreeDepth, j.BatchSize)
	fmt.Fprintf(out, "pending transfers %d\n", j.Pending)
	fmt.Fprintf(out, "batches sealed    %d, accepted by the chain %d (height %d)\n", j.Batches, j.Accepted, j.ChainHeight)
	if j.LastBatch > 0 {
		fmt.Fprintf(out, "last proven batch %d: %d transfers, proof %s, %s\n", j.LastBatch, j.LastSize,
			time.Duration(j.LastProofMs)*time.Millisecond, j.LastState)
	} else {
		fmt.Fprintln(out, "last proven batch none")
	}
	fmt.Fprintf(out, "proven root       %s\n", j.ProvenRoot)
	fmt.Fprintf(out, "pending root      %s\n", j.PendingRoot)
	return nil
}
