# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# CPU build of torch first (invisible-watermark depends on torch; an unpinned torch is a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	# The README's main command. Its cache and registry live in out/demo-home; exit 1 is expected
	# (samples/corrupt.jpg is corrupt on purpose), anything else fails the target.
	mkdir -p out
	PROVENANCE_HOME=out/demo-home $(VENV)/bin/provenance audit samples/ --html out/report.html --trust samples/trust/demo-root.pem || [ $$? -eq 1 ]

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/stamp.py

clean:
	rm -rf out .pytest_cache
