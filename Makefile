# RCoder appliance. `make help` lists the targets.
.DEFAULT_GOAL := help
.PHONY: help up down clean test test-swarm test-fresh test-unit lint lock images codegen bench bench-proxy soak ci-stack pulumi-toolchain

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

up: ## set up and run the appliance: Docker engine, images, gateway and proxy on http://127.0.0.1:8088
	@bash scripts/up

down: ## stop the appliance and remove its containers (workspaces and state are kept)
	@bash scripts/down

clean: ## like down, and also remove the stack's volumes (workspaces and state)
	@bash scripts/down --volumes

test: ## ruff, then the whole suite: unit tests and integration tests on the real engine
	@bash scripts/test

test-swarm: ## the Swarm backend on a real swarm: this engine as manager, two worker nodes as containers
	@bash scripts/test-swarm

test-fresh: ## the README's commands on fresh Debian 12 and 13 machines (containers with their own engine)
	@bash scripts/test-fresh

test-unit: ## ruff and the unit tests only (no Docker engine needed)
	@bash scripts/test tests/unit

lint: ## ruff check and ruff format --check
	@bash scripts/bootstrap >/dev/null && .venv/bin/ruff check . && .venv/bin/ruff format --check .

lock: ## resolve every Python install's packages, with their hashes, into locks/ (from pyproject.toml)
	@bash scripts/lock

images: ## build the images (base, agent, gateway, proxy, desktop)
	@bash scripts/build-images

bench: ## every benchmark on fresh appliances, baselines from the same run: a table, and JSON in .build/bench/
	@bash scripts/bench

bench-proxy: ## requests/s and p50/p99 latency of a small file through the proxy vs straight to the server
	@bash scripts/bench-proxy

soak: ## churn: 100 projects and 20 desktops in waves; what is left, and the gateway's files and memory
	@bash scripts/soak

ci-stack: ## an ephemeral Pulumi stack: up, smoke test, destroy (with the toolchain below)
	@bash scripts/ci-stack

pulumi-toolchain: ## build the Pulumi CLI, its Python host and the docker plugin from Go modules (.pulumi-toolchain/)
	@bash scripts/pulumi-toolchain

codegen: ## regenerate the gRPC modules from proto/
	@bash scripts/bootstrap >/dev/null && bash scripts/codegen
