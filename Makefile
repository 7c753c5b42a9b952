# baton: one command to run the mesh, one to pass the suite.
#
#   make run      build and serve all four services on the embedded store (./data)
#   make demo     walk through the customer journeys against the running mesh
#   make test     the whole test suite (installs redis-server if missing)
#   make ci       what CI runs: lint, tests, manifest validation

CARGO        ?= cargo
DATA_DIR     ?= ./data
BATON        := target/release/baton

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST) \
	  | sed 's|$$(DATA_DIR)|$(DATA_DIR)|g'

.PHONY: build
build: ## build the baton binary (release)
	$(CARGO) build --release -p baton

.PHONY: run
run: build ## serve all four services on the embedded store in $(DATA_DIR)
	BATON_DATA_DIR=$(DATA_DIR) $(BATON) serve all

.PHONY: demo
demo: build ## print the customer journeys, driven against the mesh started by 'make run'
	$(BATON) demo

.PHONY: redis-server
redis-server: ## install redis-server where it is missing (the Redis tests start their own)
	@command -v redis-server >/dev/null 2>&1 || command -v "$$BATON_REDIS_SERVER" >/dev/null 2>&1 || { \
	  echo "redis-server is missing: installing Debian's package"; \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq --no-install-recommends redis-server; \
	}

.PHONY: test
test: redis-server ## run every test in the workspace (starts throwaway redis-servers)
	$(CARGO) test --workspace --all-targets --locked
	$(CARGO) test --workspace --doc --locked

# The routing simulation at full size (make test runs it with 24 agents and 240 contacts).
SIM_AGENTS   ?= 200
SIM_CONTACTS ?= 5000
SIM_SEED     ?= 7

.PHONY: sim
sim: redis-server ## the routing simulation (Redis, Redis Cluster, embedded) with 200 agents and 5,000 contacts (SIM_SEED=N to reseed)
	BATON_SIM_AGENTS=$(SIM_AGENTS) BATON_SIM_CONTACTS=$(SIM_CONTACTS) BATON_SIM_SEED=$(SIM_SEED) \
	  $(CARGO) test --locked -p baton-tests --test routing_simulation -- --nocapture

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: lint
lint: ## formatting check, clippy and rustdoc with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

.PHONY: k8s-validate
k8s-validate: ## render every kustomize overlay and validate it offline (schemas and policy)
	bash k8s/validate.sh

.PHONY: deny
deny: ## licence, ban and source checks of the dependency graph (installs cargo-deny if missing)
	@$(CARGO) deny --version >/dev/null 2>&1 || { \
	  echo "cargo-deny is missing: installing it from crates.io"; \
	  $(CARGO) install --locked cargo-deny --version 0.20.2; \
	}
	$(CARGO) deny --locked check licenses bans sources

# Fuzzing with cargo-fuzz on a nightly toolchain (see fuzz/src/lib.rs). Each target starts
# from its committed seeds in fuzz/corpus/<target>, read only: what it finds goes to a scratch
# directory that is removed afterwards. libFuzzer's output goes to fuzz/artifacts/<target>.log
# and is shown when the target fails; a crashing input is kept in fuzz/artifacts/<target>/.
FUZZ_TOOLCHAIN     ?= nightly
FUZZ_SECS          ?= 60
FUZZ_SHORT_SECS    ?= 10
CARGO_FUZZ_VERSION ?= 0.13.2
FUZZ_TARGETS       := $(sort $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs))))
CARGO_FUZZ         := $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz

# $(call fuzz-all,SECONDS): installs what is missing, builds every target, runs each in turn.
define fuzz-all
	@rustup run $(FUZZ_TOOLCHAIN) rustc --version >/dev/null 2>&1 || { \
	  echo "the $(FUZZ_TOOLCHAIN) toolchain is missing: installing it"; \
	  rustup toolchain install $(FUZZ_TOOLCHAIN) --profile minimal; \
	}
	@$(CARGO_FUZZ) --version >/dev/null 2>&1 || { \
	  echo "cargo-fuzz is missing: installing it from crates.io"; \
	  $(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION); \
	}
	$(CARGO_FUZZ) build --fuzz-dir fuzz
	@mkdir -p fuzz/artifacts
	@for target in $(FUZZ_TARGETS); do \
	  scratch=$$(mktemp -d); log=fuzz/artifacts/$$target.log; \
	  $(CARGO_FUZZ) run --fuzz-dir fuzz $$target $$scratch fuzz/corpus/$$target -- \
	    -max_total_time=$(1) >$$log 2>&1; \
	  status=$$?; rm -rf $$scratch; \
	  if [ $$status -ne 0 ]; then \
	    tail -n 100 $$log; echo "fuzz target $$target failed (whole output: $$log)"; \
	    exit $$status; \
	  fi; \
	  echo "$$target: $$(grep -E '^Done [0-9]+ runs' $$log)"; \
	done
endef

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZ_SECS seconds each (default 60; installs cargo-fuzz if missing)
	$(call fuzz-all,$(FUZZ_SECS))

.PHONY: fuzz-short
fuzz-short: ## run every fuzz target for FUZZ_SHORT_SECS seconds each (default 10), as CI does
	$(call fuzz-all,$(FUZZ_SHORT_SECS))

.PHONY: ci
ci: lint test k8s-validate deny fuzz-short ## everything CI checks

.PHONY: clean
clean: ## remove build output and the local data directory
	$(CARGO) clean
	rm -rf $(DATA_DIR)

# IDENTITY_BENCH_ARGS: --short (CI size), --records N, --identity-profiles N, --batch N, --calls N,
# --febrl3 FILE.csv, --febrl4 A.csv B.csv, --quality-only, --scale-only.
.PHONY: bench
bench: redis-server bench-store bench-identity bench-routing bench-replicas bench-streams bench-recommend ## bench-store, bench-identity, bench-routing, bench-replicas, bench-streams, bench-recommend, then StartContact and Transfer against a bare tonic call and a bare Redis PING, and into a deep queue against an empty one (ratios)
	$(CARGO) run --release --locked -p baton-tests --bin baton-bench -- $(BENCH_ARGS)

# ROUTING_BENCH_ARGS: --agents N (7500), --queues N (500), --waiting N (10000), --samples N.
.PHONY: bench-routing
bench-routing: ## routing decisions with 7,500 busy agents on 500 queues and 10,000 waiting, against a 10-agent floor (p50/p99, ratio)
	$(CARGO) run --release --locked -p baton-tests --bin baton-routing-bench -- $(ROUTING_BENCH_ARGS)

# RECOMMEND_BENCH_ARGS: --items N (10000), --owned N (1000), --customers N (1000), --samples N, --short.
.PHONY: bench-recommend
bench-recommend: ## Recommend (offers, reasons with a learned model, articles) with a 10,000-item catalog for a customer owning 1,000, against a bare store read (p50/p99, ratio); learning rate
	$(CARGO) run --release --locked -p baton-recommendation --example recommend_bench -- $(RECOMMEND_BENCH_ARGS)

.PHONY: bench-store
bench-store: ## durable writes/s on the embedded store with 1, 8 and 32 concurrent writers (group commit), ratios to 1
	$(CARGO) run --release --locked -p baton-store --example group_commit

# PROFILE_SECS: how long the profiled child measures (8). Needs Linux perf (Debian: linux-perf)
# and perf_event_paranoid <= 2; the recording stays in target/profile.
PROFILE_SECS ?= 8
.PHONY: profile
profile: ## sample StartContact and Transfer with perf in one bench child (embedded store) and print where the CPU went
	@command -v perf >/dev/null || { echo "make profile needs perf (Debian: apt-get install linux-perf)"; exit 1; }
	$(CARGO) build --profile profiling --locked -p baton-tests --bin baton-bench
	mkdir -p target/profile
	RUST_LOG=warn perf record -F 499 -g --call-graph dwarf,16384 -o target/profile/perf.data \
	  target/profiling/baton-bench --child plain --secs $(PROFILE_SECS) --warmup-secs 2 --concurrency 8
	perf script -i target/profile/perf.data -F comm,tid,ip,sym --no-inline > target/profile/perf.txt 2>/dev/null
	python3 tests/profile/breakdown.py target/profile/perf.txt

# REPLICAS_BENCH_ARGS: --secs N (10), --tenants N (8), --agents N per tenant (4), --callers N (16).
.PHONY: bench-replicas
bench-replicas: redis-server ## assignments per second on Redis with one routing replica and with two, in one run
	$(CARGO) run --release --locked -p baton-tests --bin baton-replicas-bench -- $(REPLICAS_BENCH_ARGS)

# STREAMS_BENCH_ARGS: --watches N (10000), --tenants N (10), --streams-per-connection N (100),
# --contacts N (5000; 0 skips), --sessions N (5000; 0 skips), --redis.
.PHONY: bench-streams
bench-streams: ## resident memory and threads of the mesh, idle and with 10,000 open WatchContext streams, per contact waiting in a queue and per agent session
	$(CARGO) run --release --locked -p baton-tests --bin baton-streams-bench -- $(STREAMS_BENCH_ARGS)

.PHONY: bench-identity
bench-identity: ## identity linkage F1 (dedup, link; with and without national ids), import rate, Resolve p50/p99 against a bare redb read, bytes/profile
	$(CARGO) run --release --locked -p baton-tests --bin baton-identity-bench -- $(IDENTITY_BENCH_ARGS)
