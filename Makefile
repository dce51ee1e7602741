# Portal developer tasks.  From a fresh clone on Debian 12, as root:
#   make run     system packages (fonts for PDFs), venv, translations, then serve run.py
#   make test    the same plus Chromium, then ruff and pytest
#   make bench   the benchmark (not part of test): BENCH_SCALE=city|province, BENCH_DB=sqlite|postgresql
# Environment passed through untouched: HOST, PORT (read by run.py),
# TEST_DATABASE_URL (read by the test suite; empty = SQLite).
# Make variables: PYTHON (interpreter that creates the venv), PYTEST_ARGS.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.NOTPARALLEL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PIP := $(VENV)/bin/python -m pip
PIP_QUIET := --quiet --disable-pip-version-check
PYBABEL := $(VENV)/bin/pybabel
TRANSLATIONS_DIR := portal/translations
LANGUAGES := zh en
PYTEST_ARGS ?=

# Debian packages, one per line in apt-packages.txt (shared with CI and docs).
# Only the first word of lines starting with a letter or digit counts.
APT_PACKAGES := $(shell awk '$$1 ~ /^[a-z0-9]/ {print $$1}' apt-packages.txt)
# Needed by the browser tests and the benchmark (ab) only, not to serve the app.
APT_TEST_ONLY := chromium apache2-utils
APT_RUN_PACKAGES := $(filter-out $(APT_TEST_ONLY),$(APT_PACKAGES))

.PHONY: help system-deps system-deps-run venv translations run test bench lint clean babel-extract

help:
	@echo "Targets:"
	echo "  run            install what is missing, compile translations, serve run.py (HOST/PORT honoured)"
	echo "  test           install what is missing (incl. chromium), ruff check, pytest \$$(PYTEST_ARGS)"
	echo "                 TEST_DATABASE_URL=postgresql+psycopg://... selects PostgreSQL (default SQLite)"
	echo "  bench          generate or reuse benchmark data, load it with ab under gunicorn, write docs/PERFORMANCE.md"
	echo "                 BENCH_SCALE=city|province (default city), BENCH_DB=sqlite|postgresql (default sqlite)"
	echo "  system-deps    apt-get install the missing packages of apt-packages.txt (root only; warns otherwise)"
	echo "  venv           create $(VENV) and pip install -e '.[test]' (again only when pyproject.toml changes)"
	echo "  translations   compile $(TRANSLATIONS_DIR)/*/LC_MESSAGES/messages.po to .mo"
	echo "  babel-extract  extract messages to messages.pot and update the zh/en catalogs"
	echo "  lint           ruff check ."
	echo "  clean          remove $(VENV), caches and compiled .mo files (keeps instance/)"

# ---------------------------------------------------------------- system packages
# system-deps: everything in apt-packages.txt; system-deps-run: without the test-only ones.
system-deps: APT_WANT = $(APT_PACKAGES)
system-deps-run: APT_WANT = $(APT_RUN_PACKAGES)
system-deps system-deps-run:
	@if ! command -v dpkg >/dev/null 2>&1; then
	  echo "WARNING: no dpkg (not Debian?): make sure these are installed: $(APT_WANT)" >&2
	  exit 0
	fi
	installed() { local s; s=$$(dpkg -s "$$1" 2>/dev/null || true); [[ "$$s" == *"Status: install ok installed"* || "$$s" == *"Status: hold ok installed"* ]]; }
	missing=()
	for p in $(APT_WANT); do installed "$$p" || missing+=("$$p"); done
	# Debian's python3 lacks ensurepip (so `python3 -m venv` fails) until python3-venv is installed.
	if [ ! -x $(VENV)/bin/python ] && ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 \
	   && ! installed python3-venv; then
	  missing+=(python3-venv)
	fi
	if [ $${#missing[@]} -eq 0 ]; then
	  echo "$@: Debian packages present"
	  exit 0
	fi
	if [ "$$(id -u)" -ne 0 ]; then
	  echo "WARNING: missing Debian packages: $${missing[*]}" >&2
	  echo "WARNING: not root, so not installing them. As root: apt-get install -y --no-install-recommends $${missing[*]}" >&2
	  echo "WARNING: continuing; Chinese PDFs, PDF tests or browser tests may fail without them." >&2
	  exit 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Another apt/dpkg may be running (e.g. a background install): wait for its lock, up to ~5 min.
	apt_retry() {
	  local log i; log=$$(mktemp)
	  for i in $$(seq 1 30); do
	    if "$$@" 2>&1 | tee "$$log"; then rm -f "$$log"; return 0; fi
	    if ! grep -qiE 'could not get lock|unable to acquire|unable to lock' "$$log"; then rm -f "$$log"; return 1; fi
	    echo "$@: apt/dpkg is locked by another process; retrying in 10 s ($$i/30)" >&2
	    sleep 10
	  done
	  rm -f "$$log"; return 1
	}
	echo "$@: installing $${missing[*]}"
	apt_retry apt-get -q -o DPkg::Lock::Timeout=60 update
	apt_retry apt-get -q -o DPkg::Lock::Timeout=60 install -y --no-install-recommends "$${missing[@]}"

# ---------------------------------------------------------------- Python environment
venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(VENV)/bin/python ] || ! $(VENV)/bin/python -m pip --version >/dev/null 2>&1; then
	  echo "venv: creating $(VENV) with $$(command -v $(PYTHON) || echo $(PYTHON))"
	  rm -rf $(VENV)
	  if ! $(PYTHON) -m venv $(VENV); then
	    rm -rf $(VENV)
	    echo "ERROR: '$(PYTHON) -m venv' failed. On Debian install python3-venv (as root: make system-deps)." >&2
	    exit 1
	  fi
	fi
	echo "venv: pip install -e '.[test]' into $(VENV)"
	$(PIP) install $(PIP_QUIET) --upgrade pip
	$(PIP) install $(PIP_QUIET) -e '.[test]'
	touch $@

# ---------------------------------------------------------------- translations
# .mo files are build products (not committed). Fuzzy entries are left out of the .mo
# (pybabel's default); a catalog whose header is marked fuzzy, or an empty one, is skipped.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS_DIR)/*/LC_MESSAGES/messages.po))

translations: venv $(MO_FILES)
	@if [ -z "$(MO_FILES)" ]; then echo "translations: no catalogs under $(TRANSLATIONS_DIR), nothing to compile"; fi

# Only a catalog newer than its .mo is compiled, so that runs in parallel (CI) never rewrite a .mo being read.
$(TRANSLATIONS_DIR)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS_DIR)/%/LC_MESSAGES/messages.po | venv
	$(PYBABEL) compile -l $* -i $< -o $@

babel-extract: venv
	@mkdir -p $(TRANSLATIONS_DIR)
	$(PYBABEL) extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
	  --add-comments=TRANSLATORS: -o $(TRANSLATIONS_DIR)/messages.pot .
	for lang in $(LANGUAGES); do
	  if [ ! -f $(TRANSLATIONS_DIR)/$$lang/LC_MESSAGES/messages.po ]; then
	    $(PYBABEL) init -i $(TRANSLATIONS_DIR)/messages.pot -d $(TRANSLATIONS_DIR) -l $$lang
	  fi
	done
	$(PYBABEL) update -i $(TRANSLATIONS_DIR)/messages.pot -d $(TRANSLATIONS_DIR) --no-fuzzy-matching

# ---------------------------------------------------------------- run, test, lint
run: system-deps-run venv translations
	@exec $(VENV)/bin/python run.py

test: system-deps venv translations
	@echo "test: ruff check ."
	$(VENV)/bin/ruff check .
	db=$${TEST_DATABASE_URL:-}
	if [ -n "$$db" ]; then db="$${db%%:*} server from TEST_DATABASE_URL"; else db=SQLite; fi
	echo "test: pytest $(PYTEST_ARGS) (database: $$db)"
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: system-deps venv translations
	@BENCH_SCALE=$${BENCH_SCALE:-city} BENCH_DB=$${BENCH_DB:-sqlite} $(VENV)/bin/python -m bench.run

lint: venv
	@$(VENV)/bin/ruff check .

clean:
	@rm -rf $(VENV) .pytest_cache .ruff_cache .coverage build dist test-artifacts ./*.egg-info
	find . -path ./instance -prune -o -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	if [ -d $(TRANSLATIONS_DIR) ]; then find $(TRANSLATIONS_DIR) -name '*.mo' -type f -delete; fi
	echo "clean: removed $(VENV), caches and compiled .mo files (instance/ kept)"
