# The two set-up commands: `make run` (install + start the app on demo data) and `make test`.
# GPU=1 (e.g. `make run GPU=1`) installs the CUDA build of the same TensorFlow version,
# tensorflow[and-cuda], instead of tensorflow-cpu (Linux with an NVIDIA driver).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# HOST: another address than loopback only with accounts on (README: Serving a team)
HOST ?= 127.0.0.1
GPU ?= 0

.PHONY: install run test lint bench browser clean

ifeq ($(GPU),1)
INSTALLED := $(VENV)/.installed-gpu
else
INSTALLED := $(VENV)/.installed
endif

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if [ -f $(VENV)/.installed-gpu ]; then $(PY) -m pip uninstall -q -y tensorflow && rm $(VENV)/.installed-gpu; fi
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# The two TensorFlow builds share one package folder: remove the other before installing.
$(VENV)/.installed-gpu: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip uninstall -q -y tensorflow-cpu
	sed 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' requirements.txt > $(VENV)/requirements-gpu.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-gpu.txt
	rm -f $(VENV)/.installed
	touch $@

install: $(INSTALLED)

run: install
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

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
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
