# The two commands the README starts with:
#   make book   create .venv, install the requirements (with constraints.txt), build _build/html
#               and the whole book as one PDF, _build/html/book.pdf
#   make test   the same set-up, then everything CI checks
# Extras: make pdf (the PDF alone), make lab (JupyterLab on the chapters), make clean.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp is keyed on the requirement files: a second `make` installs nothing unless they change.
REQ_HASH := $(shell cat requirements.txt constraints.txt companion/pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.installed-$(REQ_HASH)
JB_BUILD := $(BIN)/jupyter-book build --all --warningiserror --nitpick --keep-going .
PDF := _build/html/book.pdf

.PHONY: book test lab clean setup lint unit notebooks build pdf browser

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt companion/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt -c constraints.txt
	rm -f $(VENV)/.installed-*
	touch $@

book: setup build pdf

build: setup
	OMP_NUM_THREADS=1 $(JB_BUILD)
	@echo "Open _build/html/index.html in a browser."

# The whole book as one PDF, offline: the single-page build (its notebooks from the same cache as
# the HTML) printed by headless Chromium. The HTML links it from the introduction.
pdf: setup
	OMP_NUM_THREADS=1 $(JB_BUILD) --builder singlehtml
	$(BIN)/python chapters/_ext/print_pdf.py _build/singlehtml $(PDF)

# One thread for tests and the build: the models are small, and a second thread only adds
# synchronisation overhead (10-30x slower when another process shares the cores).
unit: setup
	OMP_NUM_THREADS=1 $(BIN)/pytest tests companion/src/seqnets --doctest-modules -m "not browser"

# Lint, format and types of the package, the tests and the book's build extensions
# (settings in companion/pyproject.toml).
lint: setup
	$(BIN)/ruff check --config companion/pyproject.toml companion/src tests chapters/_ext
	$(BIN)/ruff format --check --config companion/pyproject.toml companion/src tests chapters/_ext
	cd companion && ../$(BIN)/mypy

# Every notebook under nbval: two at a time (one per core; each uses one thread), except the
# chapters whose results are timings (7, 9, 21, 24) and chapter 22, whose torchrun processes would
# compete with a notebook beside them: those run alone afterwards. The
# book_cache plugin (tests/book_cache.py) hands each passing notebook's outputs to the build.
TIMED_NOTEBOOKS := chapters/07_lstm_gru.ipynb chapters/09_linear_recurrence.ipynb chapters/21_performance.ipynb \
	chapters/22_scaling.ipynb chapters/24_outlook.ipynb
NBVAL := OMP_NUM_THREADS=1 PYTHONPATH=tests $(BIN)/pytest -p book_cache --nbval-lax --nbval-current-env \
         -p no:cacheprovider
notebooks: setup
	$(NBVAL) -n 2 --dist loadfile chapters $(addprefix --ignore=,$(TIMED_NOTEBOOKS))
	$(NBVAL) $(TIMED_NOTEBOOKS)

browser: setup
	$(BIN)/pytest tests -m browser

# Lint and types, unit tests (with the package's doctests) and hygiene, then every notebook under
# nbval, then the strict HTML build and the PDF, then the built pages in headless Chromium.
test: setup
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) notebooks
	$(MAKE) build
	$(MAKE) pdf
	$(MAKE) browser

lab: setup
	$(BIN)/jupyter lab --notebook-dir=chapters

clean:
	rm -rf _build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
