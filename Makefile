# ppstore — a regional decentralized storage network.
GO      ?= go
BIN     := $(CURDIR)/bin
DEMO_DIR ?= $(CURDIR)/.devnet/demo
# The race detector needs cgo and a C compiler; without one the suite runs without it.
RACE    ?= $(shell command -v gcc >/dev/null 2>&1 && echo -race)
TESTFLAGS ?=

.PHONY: all build test demo bench lint fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Tests too slow under the race detector skip themselves there
# (TestLargeFile); the last step runs them without it (docs/TESTING.md).
test:
	$(GO) vet ./...
	$(GO) test $(RACE) -count=1 -timeout 20m $(TESTFLAGS) ./...
	if [ -n "$(RACE)" ]; then $(GO) test -count=1 -timeout 10m -run '^TestLargeFile$$' $(TESTFLAGS) ./shard/; fi

demo: build
	bash scripts/demo.sh "$(DEMO_DIR)"

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./shard/ ./indexer/
	PPSTORE_BENCH=1 $(GO) test -count=1 -run 'Ratio|P99' -v ./shard/ ./indexer/
	bash bench/transfer.sh
	$(GO) test -run '^$$' -bench SimStream -benchtime 1x ./sched/
	PPSTORE_BENCH=1 $(GO) test -count=1 -run 'StreamStallsBench' -v ./user/
	PPSTORE_BENCH=1 $(GO) test -count=1 -run 'PlayFirstByteBench' -v ./e2e/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -run TestLayering ./archtest/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./wire/
	$(GO) test -run '^$$' -fuzz FuzzRoundTrip -fuzztime 30s ./shard/
	$(GO) test -run '^$$' -fuzz FuzzDecodeManifest -fuzztime 30s ./shard/
	$(GO) test -run '^$$' -fuzz FuzzZkStoreDecode -fuzztime 30s ./wire/
	$(GO) test -run '^$$' -fuzz FuzzDecodeBatch -fuzztime 30s ./rollup/
	$(GO) test -run '^$$' -fuzz FuzzVerifyBatch -fuzztime 30s ./rollup/
	$(GO) test -run '^$$' -fuzz FuzzDecodeTx -fuzztime 30s ./sidechain/
	$(GO) test -run '^$$' -fuzz FuzzDecodeLeaf -fuzztime 30s ./sidechain/
	$(GO) test -run '^$$' -fuzz FuzzParseRange -fuzztime 30s ./play/

clean:
	rm -rf $(BIN) .devnet
