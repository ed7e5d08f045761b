package zkstore

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/ppstore/ppstore/rollup"
)

const helperEnv = "ZKSTORE_CRASH_HELPER_DIR"

// helperAcceptLoop runs in a child process: it opens the store in the
// directory named by helperEnv and accepts transfers from the operator to
// fresh accounts until killed, printing "ack <seq> <to>" after each
// acknowledgement.
func helperAcceptLoop() {
	dir := os.Getenv(helperEnv)
	op, err := rollup.LoadOrCreateKeyFile(dir + "/account.key")
	if err != nil {
		panic(err)
	}
	s, err := OpenStore(dir+"/db", testParams, testRegion, op, 1000)
	if err != nil {
		panic(err)
	}
	tag := rollup.RegionTag(testRegion)
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		a, _, _ := s.pending.Account(s.db, 0)
		k, _ := rollup.GenerateKey(rand.Reader)
		to, _ := s.pending.NextFree(s.db)
		st, _ := rollup.Sign(op, tag, rollup.Transfer{From: 0, To: to, Amount: 1, Nonce: a.Nonce, ToKey: k.Public()})
		seq, _, err := s.Accept(st)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(w, "ack %d %d\n", seq, to)
		w.Flush()
		if i%3 == 0 {
			if _, err := s.Cut(true, 0); err != nil {
				panic(err)
			}
		}
	}
}

// A child process accepting transfers is killed with SIGKILL at an arbitrary
// moment: every transfer it acknowledged is in the reopened store, applied
// once (balances add up to the genesis supply, nonces count the transfers).
func TestKillDuringTransfers(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]uint32{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			to, _ := strconv.ParseUint(f[2], 10, 32)
			acked[seq] = uint32(to)
		}
		if len(acked) >= 40 || time.Now().After(deadline) {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() { // what it wrote before dying was acknowledged too
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			to, _ := strconv.ParseUint(f[2], 10, 32)
			acked[seq] = uint32(to)
		}
	}
	cmd.Wait()
	if len(acked) < 10 {
		t.Fatalf("child acknowledged only %d transfers", len(acked))
	}

	op, err := rollup.LoadOrCreateKeyFile(dir + "/account.key")
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir+"/db", testParams, testRegion, op, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opAcct, _, _ := s.pending.Account(s.db, 0)
	next, _, _, _ := s.counters()
	var total uint64
	transfers := uint64(0)
	for seq := uint64(1); seq < next; seq++ {
		w, err := s.witness(s.db, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		if w.Tx.Amount == 1 {
			transfers++
			a, ok, _ := s.pending.Account(s.db, w.Tx.To)
			if !ok || a.Balance != 1 {
				t.Fatalf("receiver of seq %d holds %+v", seq, a)
			}
			total++
		}
	}
	for seq, to := range acked {
		w, err := s.witness(s.db, seq)
		if err != nil || w.Tx.To != to {
			t.Fatalf("acknowledged seq %d (to %d) lost: %v", seq, to, err)
		}
	}
	if opAcct.Balance+total != 1000 || opAcct.Nonce != next-1 {
		t.Fatalf("operator holds %d (nonce %d) after %d transfers of 1 in %d seqs", opAcct.Balance, opAcct.Nonce, transfers, next-1)
	}
	// The store keeps working: a batch can be cut and the tree's root is
	// the root of the last queued transfer.
	if _, err := s.Cut(true, 0); err != nil {
		t.Fatal(err)
	}
	last, _ := s.witness(s.db, next-1+uint64(0))
	root, _ := s.pending.Root(s.db)
	if n2, _, _, _ := s.counters(); n2 == next && root != last.RootAfter {
		t.Fatal("pending root is not the last queued transfer's")
	}
}

// A data directory made for other parameters, or before circuit versions
// were recorded, is refused with ErrIncompatible and left as it was; the
// parameters it was made for still open it.
func TestStoreRefusesAnotherCircuit(t *testing.T) {
	dir := t.TempDir() + "/db"
	op, err := rollup.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir, testParams, testRegion, op, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, p := range []rollup.Params{{Depth: testParams.Depth + 2, BatchSize: testParams.BatchSize}, {Depth: testParams.Depth, BatchSize: testParams.BatchSize + 1}} {
		if s, err := OpenStore(dir, p, testRegion, op, 1000); !errors.Is(err, ErrIncompatible) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("opened with %+v: %v, want ErrIncompatible", p, err)
		}
	}
	// A database from before versions were recorded: no "circuit" counter.
	s, err = OpenStore(dir, testParams, testRegion, op, 1000)
	if err != nil {
		t.Fatalf("the parameters it was made for: %v", err)
	}
	if err := s.db.Delete(metaKey("circuit"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenStore(dir, testParams, testRegion, op, 1000); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "circuit version of 0") {
		t.Fatalf("a database of an older circuit: %v", err)
	}
}
