# Set-up and everyday commands. A fresh machine needs only `make demo` or `make test`:
# both create .venv with Python 3.12 and install the locked dependency set first (`make test`
# also installs the npm test server from tests/node/package-lock.json).
PYTHON ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stagehouse-installed

.PHONY: demo test bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stagehouse run nycflights

# json-server (npm), the third-party REST app the writeback tests write to.
NODE_TESTS := tests/node/node_modules/.package-lock.json
$(NODE_TESTS): tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --silent

test: $(STAMP) $(NODE_TESTS)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/sync_postgres_to_duckdb.py

# Re-pin after changing pyproject.toml dependencies (then run `make test`).
lock: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip freeze --exclude-editable | grep -v -E '^(pip|uv)==' > requirements.lock

clean:
	rm -rf $(VENV) data
