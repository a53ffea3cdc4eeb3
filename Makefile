# Tandem: the two commands that matter are `make run` (the demo) and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run demo up test test-unit bench kafka clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	@# Apache Kafka's jars from Maven Central, cached under ~/.cache/tandem (needs Java 17+ and Maven).
	bash deploy/kafka/fetch-kafka.sh >/dev/null
	touch $@

run: install
	$(BIN)/tandem demo

demo: run

up: install
	$(BIN)/tandem up

test: install
	$(BIN)/pytest -q

test-unit: install
	$(BIN)/pytest -q -m "not integration and not e2e"

bench: install
	$(BIN)/python -m benchmarks.run

kafka:
	bash deploy/kafka/fetch-kafka.sh

clean:
	rm -rf $(VENV) .tandem .pytest_cache .hypothesis
