# Every target here is what CI runs or what a person runs by hand; CI calls the same targets.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint fmt bench loadtest demo pg-up pg-down docs ci loom

## The whole test suite. Each test binary starts (or reuses, via DATABASE_URL) its own
## PostgreSQL through tarn-testkit and removes it when the binary exits.
test:
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(CARGO) test -p tarn --all-features --test pool types::

## Formatting, clippy with every target and feature, and the docs build, all warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --all-features
	$(CARGO) check -p tarn-testkit --features docker

fmt:
	$(CARGO) fmt --all

## The loom models of the pool's locked core (crates/pool/src/loom_models.rs), every
## interleaving up to LOOM_MAX_PREEMPTIONS preemptions per execution (the models are small
## enough that no bound explores them all in under a second; the bound keeps a grown model
## from running for hours). About a minute on 2 cores, most of it the release build.
loom:
	LOOM_MAX_PREEMPTIONS=$${LOOM_MAX_PREEMPTIONS:-5} LOOM_MAX_BRANCHES=$${LOOM_MAX_BRANCHES:-10000} \
		RUSTFLAGS="--cfg loom" $(CARGO) test -p tarn-pool --release --lib loom

## Every criterion bench; the HTML report lands under target/criterion.
bench:
	$(CARGO) bench -p tarn-benches

## The main job: tarn, deadpool and bb8 against one PostgreSQL, one table.
loadtest:
	$(CARGO) run --release -p tarn-loadtest -- $(ARGS)

## The example service against a throwaway server (or DATABASE_URL); prints the URL to open.
demo:
	$(CARGO) run --release -p health-server --bin health-server-demo

## A server for manual use: starts in the foreground, prints its URL, stops on Ctrl-C.
pg-up:
	$(CARGO) run -q -p tarn-testkit --bin tarn-pg -- up

## Stops a server left by `make pg-up` in the background (it stops itself on Ctrl-C too).
pg-down:
	$(CARGO) run -q -p tarn-testkit --bin tarn-pg -- down

docs:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --all-features
	@echo "API docs: target/doc/tarn/index.html; design notes: docs/"

ci: lint test
