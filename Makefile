# tap-mindzpay developer commands. A fresh machine needs only Python 3.10+ with pip, git and make:
# `make install` fetches uv itself when it is not on PATH.
#
#   make demo   meltano run tap-mindzpay target-duckdb dbt-duckdb:build (embedded sandbox), a summary,
#               and a browsable report (dashboard of the marts, dbt docs) in output/report/
#   make test   install + lint + workflow validation + the whole pytest suite
#   make lint   ruff check, ruff format --check, mypy strict
#   make bench  benchmarks/run.py
#   make dagster  dagster dev on orchestrate/definitions.py (UI, schedules, run queue; docs/scaling.md)
#   make clean  remove outputs, Meltano plugins and state, caches (keeps .venv; see distclean)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
MELTANO := $(BIN)/meltano
# Plugins are reinstalled when their definitions or the tap's dependencies change.
MELTANO_STAMP := .meltano/.installed

.PHONY: help install meltano-install chromium demo test lint workflows pytest bench dagster clean distclean

help:
	@sed -n 's/^#   //p' Makefile

# uv: reuse one on PATH; else install it into a local tools venv; else `pip install --user`.
$(UV):
	@mkdir -p $(TOOLS)/bin && printf '*\n' > $(TOOLS)/.gitignore
	@if command -v uv >/dev/null 2>&1; then \
	  ln -sf "$$(command -v uv)" $(UV); \
	elif $(PYTHON) -m venv $(TOOLS)/venv >/dev/null 2>&1 \
	    && $(TOOLS)/venv/bin/python -m pip install --quiet uv; then \
	  ln -sf ../venv/bin/uv $(UV); \
	else \
	  $(PYTHON) -m pip install --quiet --user uv \
	    || $(PYTHON) -m pip install --quiet --user --break-system-packages uv; \
	  ln -sf "$$($(PYTHON) -c 'import uv; print(uv.find_uv_bin())')" $(UV); \
	fi
	@$(UV) --version

# --compile-bytecode: write the .pyc files at install, as pip does. uv does not by default, and
# with PYTHONDONTWRITEBYTECODE set every tap, target and test process would compile the SDK from
# source on each start (0.5 s of a 0.9 s `tap-mindzpay --about`).
install: $(UV)
	$(UV) sync --frozen --compile-bytecode

$(MELTANO_STAMP): meltano.yml pyproject.toml uv.lock
	$(MELTANO) install
	@touch $@

meltano-install: install $(MELTANO_STAMP)

# The report's last line is its path: output/report/index.html (docs/index.html beside it).
demo: meltano-install
	@mkdir -p output
	$(MELTANO) run tap-mindzpay target-duckdb dbt-duckdb:build dbt-duckdb:docs
	$(BIN)/python scripts/demo_summary.py
	$(BIN)/python scripts/demo_report.py --docs .meltano/utilities/dbt-duckdb/target/static_index.html

# Headless Chromium opens the demo report in its test (Debian's package; Playwright's browser
# download is not reachable from CI). Installed when missing and this is root with apt-get (CI);
# elsewhere a line says what to install, and the test skips (or fails under CI=true).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is not installed: apt-get install chromium (as root) for the report test"; \
	  fi; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy scripts

workflows: install
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
# --durations=25: the 25 slowest tests, to keep the suite's time in sight.
# -n 2 --dist loadgroup: two xdist workers (the machine's two cores); the tests that run Meltano
# in the project share one (xdist_group "meltano"), since Meltano's run files are per project.
pytest: meltano-install chromium
	$(BIN)/pytest -n 2 --dist loadgroup --durations=25 || { status=$$?; [ $$status -eq 5 ] && echo "pytest: no tests collected"; \
	  [ $$status -eq 5 ] || exit $$status; }

test: install lint workflows pytest

bench: meltano-install
	$(BIN)/python benchmarks/run.py

# The shard jobs run `meltano run` in the prod environment unless MELTANO_ENVIRONMENT says otherwise.
dagster: meltano-install
	DAGSTER_HOME=$(CURDIR)/orchestrate MELTANO_ENVIRONMENT=$${MELTANO_ENVIRONMENT:-prod} \
	  $(BIN)/dagster dev -m orchestrate.definitions

clean:
	rm -rf output .meltano dist build .pytest_cache .mypy_cache .ruff_cache .bench
	rm -rf transform/target transform/logs transform/dbt_packages
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(TOOLS)
