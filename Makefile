# One-command set-up. `make lab` opens the course; `make test` runs the whole suite.
# Both create the virtual environment when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup data lab present slides browser-test test lint unit notebooks bench report clean-venv

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

# Datasets into the data root (DIFFUSION_COURSE_DATA, default ~/.cache/diffusion_course/data):
# from ../shared/data when it is beside the checkout (offline, ~3 s), else downloaded by torchvision.
data: $(STAMP)
	$(PY) -m diffusion_course data prepare

# tools/lab.py adds --allow-root when run as root (containers) and --no-browser when there is no
# display (headless or remote machines; JupyterLab then prints the URL to open).
lab: data
	$(PY) tools/lab.py notebooks/00_welcome.ipynb

# Classroom mode (tools/present.py). `make present [NB=07_vaes.ipynb]`: a notebook as a Voila app,
# code hidden, widgets live (default the arena, 10_arena.ipynb; 08 while 10 does not exist).
# `make slides [NB=...]`: reveal.js slides of a notebook's marked cells into build/slides/ (default 05).
# NB is a file name in notebooks/; DIFFUSION_COURSE_QUICK=1 make present starts faster.
NB ?=
present: data
	$(PY) tools/present.py $(NB)

slides: $(STAMP)
	$(PY) tools/present.py --slides $(NB)

# Style (ruff) and the package's layer rules (import-linter contracts in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check diffusion_course tests benchmarks tools conftest.py
	$(VENV)/bin/ruff format --check diffusion_course tests benchmarks tools conftest.py
	$(VENV)/bin/lint-imports

# The whole suite: lint, unit tests (the browser widget tests included: skipped without chromium,
# except under CI), then every notebook under nbval in QUICK mode, offline.
test: data lint
	DIFFUSION_COURSE_QUICK=1 DIFFUSION_COURSE_DOWNLOAD=0 $(PY) -m pytest

# The widgets in a real browser alone (tests/test_widgets_browser.py, also part of `make test`;
# needs Debian's chromium: tools/install_chromium.sh). About a minute per widget notebook on 2 cores.
browser-test: data
	tools/install_chromium.sh
	DIFFUSION_COURSE_BROWSER=1 DIFFUSION_COURSE_DOWNLOAD=0 $(PY) -m pytest tests/test_widgets_browser.py

unit: $(STAMP)
	DIFFUSION_COURSE_BROWSER=0 DIFFUSION_COURSE_QUICK=1 DIFFUSION_COURSE_DOWNLOAD=0 $(PY) -m pytest tests

notebooks: data
	DIFFUSION_COURSE_QUICK=1 DIFFUSION_COURSE_DOWNLOAD=0 $(PY) -m pytest notebooks

bench: $(STAMP)
	$(PY) benchmarks/sampler_overhead.py

# Regenerate the README's table of measured numbers from assets/results and the manifest.
report: $(STAMP)
	$(PY) -m diffusion_course report

clean-venv:
	rm -rf $(VENV)
