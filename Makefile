# Parley — see README.md.
GO       ?= go
# A count, not a duration: a duration -fuzztime races Go's fuzz coordinator
# (golang/go#75804, fixed in Go 1.27) and can fail a run with a bare
# "context deadline exceeded" and no crasher; a count has no deadline.
FUZZTIME ?= 150000x
# Fuzz targets as package:target pairs; `make test` runs each for FUZZTIME.
FUZZ_TARGETS := \
	./sip:FuzzParse \
	./sip:FuzzParseURI \
	./sip:FuzzStreamReader \
	./sip:FuzzScanNameAddr \
	./sip:FuzzPlainParams \
	./sdp:FuzzSDP \
	./location:FuzzDecodeRecord \
	./auth/digest:FuzzVerify \
	./auth/digest:FuzzParseUsers

.PHONY: all build test deps vet unit blackbox fuzz-short fuzz bench compare generate fmt-check

all: build

build:
	$(GO) build -o parley ./cmd/parley

# The whole suite, as CI runs it: system packages, vet, race-enabled unit
# tests, the black-box tests (SIPp, multi-process) on their own so that
# their timers do not compete with the race detector for the 2 cores, and
# short fuzz runs.
test: deps fmt-check vet unit blackbox fuzz-short

deps:
	@./scripts/deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v '/test/')

blackbox:
	$(GO) test -count=1 -p 1 ./test/...

fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Longer fuzzing: make fuzz LONGFUZZ=10m (a duration; see FUZZTIME above for
# the rare spurious "context deadline exceeded" at its end)
fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(or $(LONGFUZZ),2m)

# Benchmarks against peers (bench/ is its own module so that sipgo never
# enters Parley's go.mod).
bench:
	cd bench && $(GO) run ./cmd/benchcmp
	cd bench && PARLEY_RATIO=1 $(GO) test -count=1 -run TestInterleavedRatio -v . | grep -E 'parse:|^ok|FAIL'
	$(GO) test -run '^$$' -bench 'UDPReceive|UDPEcho' -benchmem ./transport
	$(GO) test -run '^$$' -bench 'OPTIONS' -benchmem -cpu 1,2 ./stack
	$(GO) test -run '^$$' -bench 'NonInviteTransactions' -benchmem ./transaction

# Kamailio and Parley side by side (../shared/bench); installs SIPp and Kamailio if missing.
compare: build
	set -a; . bench/candidates.env; set +a; \
	CANDIDATE_REGISTRAR_CMD="$$(echo "$$CANDIDATE_REGISTRAR_CMD" | sed "s|^\./parley|$(CURDIR)/parley|")"; \
	CANDIDATE_PROXY_CMD="$$(echo "$$CANDIDATE_PROXY_CMD" | sed "s|^\./parley|$(CURDIR)/parley|")"; \
	../shared/bench/compare.sh --reg-rates $(or $(REG_RATES),1000) --rates $(or $(RATES),200) --duration $(or $(DURATION),10)

generate:
	$(GO) generate ./...
