# Two entry points for a newcomer: `make demo` and `make test`. Both create the
# virtual environment from the lock of exact versions on first use.
PYTHON ?= python3
VENV := .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
CORES ?= 2

.PHONY: demo test lint lock example clean-results

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "pdoscreen needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	snakemake --cores $(CORES)

# Two workers, one test file each: a file's fixtures (a workflow run, a fit) are
# made once, and in-process fits use the core a workflow run leaves idle.
test: $(VENV)/.installed
	pytest -q -n 2 --dist loadfile --durations=15

lint: $(VENV)/.installed
	ruff check src tests benchmarks
	snakemake --lint
	snakefmt --check Snakefile workflow

example: $(VENV)/.installed
	python example/make_example.py

# Re-pin every dependency to what the current environment holds.
lock: $(VENV)/.installed
	{ echo "# Exact versions for the pip install (python -m pip install -r requirements.lock)."; \
	  echo "# Regenerate with: make lock"; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^pdoscreen'; } > requirements.lock

clean-results:
	rm -rf results logs
