# Two commands set everything up: `make run` and `make test` (see README).
# Another Python gets its own environment, beside the default one (.gitignore has .venv-*):
#   make test PYTHON=python3.13 VENV=.venv-3.13
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test parity bench browser clean

# The lock names every package, so pip installs it as it stands (--no-deps: no resolving)
# and `pip check` then fails the install if a package needs one the lock lacks.
# pip compiles the packages' sources one file at a time; compileall does it on every core.
# As under pip, a file this Python cannot compile (on 3.11, a torch test of 3.12 syntax)
# stays source that is never imported, so compileall's status is not the install's.
$(STAMP): requirements.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps -r requirements.lock
	$(PY) -m pip check --disable-pip-version-check
	$(PY) -m compileall -qq -j 0 $(VENV)/lib || true
	touch $@

## run: train the default model (cnn1) in every column, side by side
run: $(STAMP)
	$(PY) run.py compare

## test: the whole test suite, a file per worker, one worker per core up to four, each
## worker's frameworks on its share of the cores (pytest-xdist, tests/conftest.py; the
## report test renders the page in Debian's chromium, installed while pip installs the rest);
## it stops if $(VENV) was made by another Python than $(PYTHON) (give each its own VENV)
test:
	@$(MAKE) --no-print-directory -j 2 $(STAMP) browser
	@want=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  have=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  [ "$$want" = "$$have" ] || { echo "$(VENV) runs Python $$have, $(PYTHON) is $$want: pass VENV=.venv-$$want too"; exit 1; }
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder

## parity: forward, lockstep and native parity for every spec (see docs/parity.md)
parity: $(STAMP)
	mkdir -p runs
	$(PY) run.py parity --all --check all --json runs/parity.json

## bench: every benchmark, one table: trainers against plain loops, columns against each
## other, share of peak, deployed against eager, start-up, keras lockstep against native,
## Lightning's Trainer per step; printed, and written to docs/benchmarks.md, stamped with the
## date, the CPU, the cores and the versions (docs/speed.md says what each figure means)
bench: $(STAMP)
	$(PY) bench/all.py --out docs/benchmarks.md

browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the report test (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { echo "could not install chromium: run 'apt-get install chromium' as root"; exit 1; }; }

clean:
	rm -rf $(VENV) runs .pytest_cache
