# Two entry points: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test install install-dev system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

# torch and torchvision are installed together from the index first: the CPU-only torch
# wheel on some machines cannot load the index's torchvision (see docs/INSTALL notes in README).
$(VENV)/.installed: $(PY) pyproject.toml
	$(PIP) install torch torchvision
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the Space browser test; skipped when already present or not root.
system-deps:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "warning: could not install chromium; browser tests will be skipped"; \
	fi

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/hf-fair demo

test: system-deps $(VENV)/.installed-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q --durations=25 tests

clean:
	rm -rf $(VENV) build *.egg-info
