# Two commands for a fresh machine: `make run` (install + start the app), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# Where the server listens. The default serves only this computer (a student's laptop); to let
# other machines in (a class server, a container) run e.g. `make run HOST=0.0.0.0`.
HOST ?= 127.0.0.1

.PHONY: run test install clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

test: install
	$(BIN)/python -m pytest -q -rs

clean:
	rm -rf $(VENV) .pytest_cache
