# The two set-up commands: `make run` (install + start the app on demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: install run test lint bench browser clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

browser:
	bash scripts/install-browser.sh

test: install browser
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .

bench: install
	bash scripts/install-browser.sh  # bench/train_from_page.py drives the app in Chromium
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
