# The two README commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
export GX_ANALYTICS_ENABLED := False
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup browser postgres demo test test-fast lint clean-workspace

$(BIN)/mtms: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"   # first, so the range in pyproject is already met
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/mtms

demo: setup
	$(BIN)/mtms simulate --report
	$(BIN)/mtms backfill --start 2026-01-05 --end 2026-01-18   # the daily flow, day after day
	$(BIN)/mtms status

browser:  # headless Chromium for the dashboards' browser test (Debian packages; needs root or sudo)
	@command -v chromium >/dev/null || { echo "installing chromium + chromium-driver for the browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

postgres:  # PostgreSQL 15 for the shared-store tests, which start their own throwaway cluster on
	@# loopback (Debian's postgresql-15, no "main" cluster or service of its own; needs root or sudo)
	@test -x /usr/lib/postgresql/15/bin/postgres || { echo "installing postgresql-15 for the shared-store tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" | $$SUDO tee /etc/postgresql-common/createcluster.d/mtms.conf >/dev/null && \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql-15 >/dev/null; }

test: setup browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

test-fast: setup  # the quick loop (~90 s): no slow, end-to-end, browser or server tests
	$(BIN)/ruff check .
	$(BIN)/pytest -q -m "not slow and not e2e and not browser and not server"

lint: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-workspace:  # remove generated data, models, runs and the embedded stores (keeps the DVC cache and remote)
	rm -rf data/raw data/quarantine data/validation models runs registry .prefect
