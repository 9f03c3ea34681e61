# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
DEMO_DIR ?= $(CURDIR)/data/demo

.PHONY: install install-napari install-bioimageio install-mlflow install-quantize test test-fast demo bench lint clean

# install: the pinned requirements, and a .pth file that makes the bundle's plugin (`scripts`, imported by the
# configs) importable with this Python from any folder
$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -c "import site, sys; open(site.getsitepackages()[0] + '/spindle_bundle.pth', 'w').write(sys.argv[1] + '\n')" "$(CURDIR)/bundle"
	touch $(STAMP)

install: $(STAMP)

# the napari extra (plugin and its tests): Xvfb and the X libraries Qt's xcb platform loads (apt, when missing),
# then the pinned packages
NAPARI_STAMP := $(VENV)/.installed-napari
QT_APT_PACKAGES := xvfb libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
	libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 libdbus-1-3
$(NAPARI_STAMP): $(STAMP) requirements-napari.txt napari-spindle/pyproject.toml
	dpkg -s $(QT_APT_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends \
		$(QT_APT_PACKAGES)) || (sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends $(QT_APT_PACKAGES))
	$(PY) -m pip install -q -r requirements-napari.txt
	touch $(NAPARI_STAMP)

install-napari: $(NAPARI_STAMP)

# the pip-only extras, each pinned in requirements-NAME.txt: bioimageio (python -m scripts.bioimageio_export and
# `bioimageio test`; after napari, whose unpinned pydantic it pins below 2.14), mlflow (--tracking mlflow;
# tests/test_tracking.py) and quantize (python -m scripts.quantize: NNCF makes the int8 model; running it needs
# OpenVINO only)
$(VENV)/.installed-%: $(STAMP) requirements-%.txt
	$(PY) -m pip install -q -r requirements-$*.txt
	touch $@

install-bioimageio: $(VENV)/.installed-bioimageio
install-mlflow: $(VENV)/.installed-mlflow
install-quantize: $(VENV)/.installed-quantize

lint: install
	$(VENV)/bin/ruff check bundle tests benchmarks napari-spindle

# the tests run in TEST_WORKERS processes (pytest-xdist; work stealing, as their times differ 1000-fold): on 2 cores
# two cut the wall time ~1.7x, since much of a test is a child run starting Python and importing torch and MONAI on
# one core (TEST_WORKERS=0: one process)
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test: lint install-napari install-bioimageio install-mlflow install-quantize
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow"

demo: install
	$(PY) -m scripts.demo --out $(DEMO_DIR)

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) data runs eval .pytest_cache
