PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download cannot work here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The built-in demo LMS of /try lives on the broker's own http address, so `make run` allows plain-http platforms.
run: install
	$(BIN)/broker db upgrade
	$(BIN)/broker demo
	BROKER_ALLOW_INSECURE_PLATFORMS=$${BROKER_ALLOW_INSECURE_PLATFORMS:-1} $(BIN)/broker serve

# Database tests run on SQLite, and on PostgreSQL too when BROKER_TEST_DATABASE_URL is set (.ci/run sets it).
# One pytest worker per core (pytest-xdist), each with its own databases, broker servers and browser; a test
# file stays on one worker, in its order. TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= auto
test: install $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Benchmarks drive the JWKS route with Debian's wrk, time the host's RSA signatures with Debian's openssl (the
# host's speed, bench/host_speed.py) and profile with py-spy (the bench extra).
# ONLY="registration profile" runs some of them: jwks, registration, launch, profile, scale (PostgreSQL; see README).
WRK := /usr/bin/wrk
OPENSSL := /usr/bin/openssl
BENCH_STAMP := $(VENV)/.bench-installed

bench: install $(WRK) $(OPENSSL) $(BENCH_STAMP)
	$(BIN)/python -m bench $(ONLY)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

$(WRK) $(OPENSSL):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk openssl

clean:
	rm -rf $(VENV) broker.db
