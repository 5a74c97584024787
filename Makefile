PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint sandbox bench golden clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Without BOT_TOKEN this opens the playground (see README); with one it is `python -m bot`.
run: $(STAMP)
	$(PY) -m playground

sandbox: $(STAMP)
	$(PY) -m sandbox

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench

# Regenerate the golden transcripts (tests/golden/*.txt) after a deliberate change of texts.
golden: $(STAMP)
	$(PY) -m tests.golden

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
