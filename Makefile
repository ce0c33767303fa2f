# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lab bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## run the full method on the embedded mnist5k and write runs/demo/report.html
	$(BIN)/dd-explore demo --out runs/demo --overwrite

test: $(STAMP)  ## the whole suite (notebooks in quick mode; browser tests need /usr/bin/chromium)
	DD_EXPLORE_QUICK=1 $(BIN)/python -m pytest

lab: $(STAMP)  ## JupyterLab on 127.0.0.1 opening notebooks/
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --ServerApp.root_dir=notebooks

bench: $(STAMP)  ## the quick benchmark (see BENCHMARKS.md for the full one)
	$(BIN)/dd-explore bench --quick --threads 1 --overwrite --out runs/bench-quick

clean-venv:
	rm -rf $(VENV)
