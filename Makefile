# Set-up and everyday commands. A fresh machine needs only `make demo` or `make test`:
# both create .venv with Python 3.12 and install the locked dependency set first, every file
# checked against requirements.lock's hashes (`make test` also installs the npm test server from
# tests/node/package-lock.json). The project itself is installed editable and --no-deps: a local
# source tree has no hash to check, and its dependencies are all in the lock.
PYTHON ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stagehouse-installed

.PHONY: demo test lint bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stagehouse run nycflights

# json-server (npm), the third-party REST app the writeback tests write to.
NODE_TESTS := tests/node/node_modules/.package-lock.json
$(NODE_TESTS): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --silent

# Lint first (docs/stack.md): ruff (pyflakes, import order, bugbear, line length 120; formatted
# as `ruff format` would) and mypy over the three layers. mypy reads them as the installed
# namespace (setup.py maps connectors/ to stagehouse.connectors...): the editable install's
# import hook is invisible to it, so .venv/mypy-src/stagehouse links the folders in.
LINT_PATHS := connectors tasks flows tests bench stagehouse
MYPY_SRC := $(VENV)/mypy-src
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	mkdir -p $(MYPY_SRC)/stagehouse
	for name in __init__.py testing.py; do ln -sfn $(CURDIR)/stagehouse/$$name $(MYPY_SRC)/stagehouse/$$name; done
	for layer in connectors tasks flows; do ln -sfn $(CURDIR)/$$layer $(MYPY_SRC)/stagehouse/$$layer; done
	cd $(MYPY_SRC) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml \
		-p stagehouse.connectors -p stagehouse.tasks -p stagehouse.flows

test: lint $(NODE_TESTS)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/sync_postgres_to_duckdb.py

# Regenerate requirements.lock from pyproject.toml (core and every extra, with hashes) after a
# dependency change, then run `make test`. Versions already in the lock are kept (uv prefers the
# output file's pins); `make lock UPGRADE=1` moves everything to the newest the ranges allow.
# uv runs from its own scratch venv, so it is not part of the project's locked set.
UV_VERSION := 0.13.9
LOCK_TOOLS := .venv-lock
lock:
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12"; exit 1; }
	test -x $(LOCK_TOOLS)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet uv==$(UV_VERSION); }
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --quiet --python-version 3.12 \
		--extra demo --extra dask --extra sftp --extra ui --extra test \
		--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) \
		-o requirements.lock

clean:
	rm -rf $(VENV) $(LOCK_TOOLS) data
