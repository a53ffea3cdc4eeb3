# Tandem: the two commands that matter are `make run` (the demo) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run demo up test lint test-unit chaos bench kafka catalogues clean

install: $(VENV)/.installed build/compose-config

# docker compose's own loader (compose-go), so the tests validate docker-compose.yml with .env.example
# as `docker compose config` does, without a Docker engine. Needs Go; without it those tests skip.
build/compose-config: deploy/compose-config/main.go deploy/compose-config/go.mod deploy/compose-config/go.sum
	@if command -v go >/dev/null; then \
	  (cd deploy/compose-config && go build -o ../../build/compose-config .) && touch $@ \
	    || echo "note: could not build build/compose-config; the compose validation test will be skipped"; \
	else \
	  echo "note: Go is missing; the compose validation test will be skipped (https://go.dev/dl/)"; \
	fi

$(VENV)/.installed: pyproject.toml constraints.txt deploy/oidc/package-lock.json
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	@# Apache Kafka's jars from Maven Central, cached under ~/.cache/tandem (needs Java 17+ and Maven).
	bash deploy/kafka/fetch-kafka.sh >/dev/null
	@# The local OpenID Provider (node-oidc-provider, from the npm registry) for single sign-on in the tests and `tandem up`.
	@command -v npm >/dev/null || { echo "Node.js 20.19+ with npm is needed (the local OpenID Provider, deploy/oidc)"; exit 1; }
	npm ci --prefix deploy/oidc --no-audit --no-fund --loglevel=error >/dev/null
	@# Debian's Chromium for the dashboard's browser test (Playwright drives it; it never downloads a browser).
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (apt-get)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }; \
	  else \
	    echo "note: /usr/bin/chromium is missing and this is not root; the dashboard's browser test will be skipped (sudo apt-get install chromium)"; \
	  fi; \
	fi
	touch $@

run: install
	$(BIN)/tandem demo

demo: run

up: install
	$(BIN)/tandem up

test: install lint
	$(BIN)/pytest -q

# Lint, format and types on the plumbing and the service layers (settings in pyproject.toml).
LINTED := shared services/matching/service_layer services/notifications/service_layer services/scheduling/service_layer services/feedback/service_layer
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy $(LINTED)

# Faults injected into a whole Tandem of its own; the figures go to docs/reliability.md.
chaos: install
	rm -f .tandem/tandem-chaos-results.jsonl
	mkdir -p .tandem
	TANDEM_CHAOS_RESULTS=.tandem $(BIN)/pytest -q -m chaos tests/chaos
	TANDEM_CHAOS_RESULTS=.tandem $(BIN)/python -m tests.chaos.report

test-unit: install
	$(BIN)/pytest -q -m "not integration and not e2e and not chaos"

bench: install
	$(BIN)/python -m benchmarks.run

# Notifications' gettext catalogues: extract the message ids from the code (Babel), merge them into
# every language's .po, and fail on anything missing, untranslated or fuzzy.
catalogues: install
	$(BIN)/python -m services.notifications.catalogues extract
	$(BIN)/python -m services.notifications.catalogues update
	$(BIN)/python -m services.notifications.catalogues check

kafka:
	bash deploy/kafka/fetch-kafka.sh

clean:
	rm -rf $(VENV) .tandem .pytest_cache .hypothesis
