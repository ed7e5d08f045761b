package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ppstore/ppstore/config"
	"github.com/ppstore/ppstore/discover"
	"github.com/ppstore/ppstore/identity"
	"github.com/ppstore/ppstore/sidechain"
	"github.com/ppstore/ppstore/transport"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wallet"
	"github.com/ppstore/ppstore/wire"
	"github.com/spf13/cobra"
)

// SidechainFile, beside the client config, names the sidechain node a wallet
// reads roots from and the genesis it trusts (a devnet writes it):
//
//	rpc = "127.0.0.1:26657"
//	genesis = "/path/to/genesis.json"
const sidechainFile = "sidechain.toml"

type sidechainConfig struct {
	RPC     string `toml:"rpc"`
	Genesis string `toml:"genesis"`
}

// openWallet loads the client config, the identity and the wallet key beside
// it, and connects to the region (and to the sidechain when one is
// configured). close releases the sockets.
func openWallet(cmd *cobra.Command) (w *wallet.Wallet, close func(), err error) {
	path := configPath(cmd)
	var cfg user.Config
	if err := config.Load(path, &cfg); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no client config at %s: pass --config FILE or set PPSTORE_CONFIG (a devnet writes DIR/client.toml)", path)
		}
		return nil, nil, err
	}
	if rest, ok := strings.CutPrefix(cfg.DataDir, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			cfg.DataDir = filepath.Join(home, rest)
		}
	}
	if cfg.DataDir != "" && !filepath.IsAbs(cfg.DataDir) {
		cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
	}
	if err := applyIdentity(cmd, &cfg); err != nil { // --identity DIR: another user's (or a miner's) wallet
		return nil, nil, err
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if cfg.Region == "" {
		return nil, nil, fmt.Errorf("%s names no region: a wallet signs transfers for one region (set region = \"NAME\")", path)
	}
	id, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.KeyFile))
	if err != nil {
		return nil, nil, err
	}
	key, binding, err := wallet.LoadOrCreateKey(cfg.DataDir, id)
	if err != nil {
		return nil, nil, err
	}
	seeds, err := discover.ParseSeeds(cfg.Bootstrap)
	if err != nil {
		return nil, nil, err
	}
	node, err := transport.Listen(transport.Config{Key: id, Listen: cfg.Listen, RequestTimeout: time.Duration(cfg.Timeout)})
	if err != nil {
		return nil, nil, err
	}
	var chain wallet.Chain
	rpc, _ := cmd.Flags().GetString("chain")
	genesis, _ := cmd.Flags().GetString("chain-genesis")
	var sc sidechainConfig
	if err := config.Load(filepath.Join(filepath.Dir(path), sidechainFile), &sc); err == nil {
		if rpc == "" {
			rpc = sc.RPC
		}
		if genesis == "" {
			genesis = sc.Genesis
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		node.Close()
		return nil, nil, err
	}
	if rpc != "" {
		var trust *sidechain.Trust
		if genesis != "" {
			if trust, err = sidechain.TrustFromGenesisFile(genesis); err != nil {
				node.Close()
				return nil, nil, err
			}
		}
		c, err := sidechain.Dial(rpc, trust)
		if err != nil {
			node.Close()
			return nil, nil, err
		}
		chain = c
	}
	w = wallet.New(key, binding, cfg.Region, node, discover.NewClient(node, seeds), wire.NodeAddr{}, chain)
	return w, func() { node.Close() }, nil
}

func newWalletCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Pay and be paid in the region's zkStore rollup",
		Long: `The wallet holds an account key beside this client's identity (wallet.key,
bound to the peer ID by wallet.binding). Transfers go to the region's zkstore
operator; the proven balance is checked against the root the sidechain
accepted with a Merkle proof, so it trusts the chain, not the operator. The
sidechain is named by --chain and --chain-genesis or by sidechain.toml beside
the client config (a devnet writes one).`,
		Args: subcommandArgs,
		RunE: subcommandRunE,
	}
	pf := cmd.PersistentFlags()
	pf.String("chain", "", "sidechain node's RPC `host:port` (default from sidechain.toml)")
	pf.String("chain-genesis", "", "sidechain genesis `file` whose validators are trusted (default from sidechain.toml)")
	cmd.AddCommand(newWalletAddressCmd(), newWalletBalanceCmd(), newWalletSendCmd(), newWalletHistoryCmd())
	return cmd
}

func newWalletAddressCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "address",
		Short: "Print the wallet's account address and the identity it is bound to",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, closeFn, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			b := w.Binding()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"address": w.Address().String(), "peer": b.Peer.String()})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), w.Address().String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWalletBalanceCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "balance",
		Short: "Show the pending balance and the balance proven against the sidechain",
		Long: `Show the pending balance (every transfer the operator accepted, its word) and
the proven balance (the account in the root the sidechain accepted, checked
with a Merkle proof). A root the chain never accepted is refused.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, closeFn, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			b, err := w.Balance(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]uint64{"pending": b.Pending, "proven": b.Proven})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pending %d\nproven  %d (batch %d, sidechain height %d)\n", b.Pending, b.Proven, b.ProvenBatch, b.ChainHeight)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"pending": N, "proven": N}`)
	return cmd
}

func newWalletSendCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "send ADDRESS AMOUNT",
		Short: "Send AMOUNT to the account with key ADDRESS (opening it if new)",
		Long: `Sign a transfer of AMOUNT to ADDRESS (another wallet's "ppstore wallet
address") and hand it to the operator. It returns once the operator durably
queued the transfer; it is proven with its batch.`,
		Args:              exactArgs(2, "an address and an amount"),
		ValidArgsFunction: noFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := wallet.ParseAddress(args[0])
			if err != nil {
				return &usageError{cmd: cmd, err: err}
			}
			amount, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil || amount == 0 {
				return &usageError{cmd: cmd, err: fmt.Errorf("amount %q: want a positive integer", args[1])}
			}
			w, closeFn, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			sent, err := w.Send(cmd.Context(), to, amount)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sent)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d from account %d to account %d (nonce %d), queued as transfer %d\n", sent.Amount, sent.From, sent.To, sent.Nonce, sent.Seq)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWalletHistoryCmd() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the newest transfers to and from this wallet",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, closeFn, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer closeFn()
			h, err := w.History(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				type entry struct {
					Seq    uint64 `json:"seq"`
					Batch  uint64 `json:"batch"` // 0: in no batch yet
					From   uint32 `json:"from"`
					To     uint32 `json:"to"`
					Amount uint64 `json:"amount"`
					Nonce  uint64 `json:"nonce"`
				}
				out := make([]entry, 0, len(h))
				for _, e := range h {
					out = append(out, entry{e.Seq, e.Batch, e.From, e.To, e.Amount, e.Nonce})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			for _, e := range h {
				batch := "pending"
				if e.Batch > 0 {
					batch = fmt.Sprintf("batch %d", e.Batch)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d\t%d -> %d\t%d\tnonce %d\t%s\n", e.Seq, e.From, e.To, e.Amount, e.Nonce, batch)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most `N` transfers")
	return cmd
}
