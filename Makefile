# xnb -- set-up and everyday commands. `make help` lists them.
#
# Everything runs in a virtual environment at $(VENV) (created on first use from $(PYTHON)).
# pip installs run again only when pyproject.toml is newer than the stamp files kept inside
# $(VENV), so a second `make test` goes straight to pytest; `make distclean` starts over.

PYTHON      ?= python3
VENV        ?= .venv
VENV_PY     := $(VENV)/bin/python
PIP         := $(VENV_PY) -m pip
PIP_FLAGS   ?= --disable-pip-version-check

PORT        ?= 8888
VOILA_PORT  ?= 8866
IP          ?= 127.0.0.1
PYTEST_ARGS ?=
TESTS       ?= tests

STAMP_RUN   := $(VENV)/.xnb-installed
STAMP_TEST  := $(VENV)/.xnb-installed-test
STAMP_DOCS  := $(VENV)/.xnb-installed-docs

# `jupyter lab` flags: as root, Jupyter refuses to start without --allow-root; with no display
# (SSH, container, CI) there is no browser to open -- the URL with its token is printed instead.
LAB_FLAGS := --notebook-dir=notebooks --ip=$(IP) --port=$(PORT)
ifeq ($(shell id -u 2>/dev/null),0)
LAB_FLAGS += --allow-root
endif
ifeq ($(strip $(DISPLAY)$(WAYLAND_DISPLAY)),)
ifneq ($(shell uname -s 2>/dev/null),Darwin)
LAB_FLAGS += --no-browser
endif
endif

.DEFAULT_GOAL := help
.PHONY: help venv install install-test docs lab voila test claims claims-quick strip sync-notebooks sync-deps binder-url weights bench clean distclean

help:
	@echo "make lab        install xnb (editable) into $(VENV) and start JupyterLab on notebooks/ (IP=$(IP) PORT=$(PORT))"
	@echo "make voila      serve notebooks/ as Voila dashboards (live widgets, code hidden) on $(IP):$(VOILA_PORT)"
	@echo "make test       install xnb[test] into $(VENV) and run pytest over $(TESTS) (PYTEST_ARGS=..., TESTS=...)"
	@echo "make claims     re-measure every paper claim over 3 seeds; prints the table, writes docs/claims.md"
	@echo "make claims-quick  the same with quick settings (prints only; CLAIMS_ARGS=... for more options)"
	@echo "make docs       install xnb[docs] into $(VENV) and build the documentation site into site/ (mkdocs --strict, offline)"
	@echo "make install    create $(VENV) and install xnb (editable) with its dependencies and the lab extra"
	@echo "make sync-notebooks  sync each notebooks/*.ipynb with its paired script notebooks/*.py (jupytext --sync)"
	@echo "make strip      remove outputs / execution counts / widget state from notebooks/*.ipynb (nbstripout)"
	@echo "make sync-deps  regenerate environment.yml and binder/ from pyproject.toml"
	@echo "make binder-url print this repository's mybinder.org URL (from \`git remote get-url origin\`)"
	@echo "make weights    run scripts/make_weights.py"
	@echo "make bench      run every benchmarks/*.py"
	@echo "make clean      remove caches and artifacts (keeps $(VENV))"
	@echo "make distclean  clean, and remove $(VENV) too"

# --- environment -------------------------------------------------------------------------

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

venv: $(VENV_PY)

# `.[test]` includes everything `.` does, so the test stamp also refreshes the runtime stamp.
# the `lab` extra: JupyterLab, Voila, Jupytext and nbstripout (a plain `pip install xnb` is the library and its widgets only)
$(STAMP_RUN): pyproject.toml | $(VENV_PY)
	$(PIP) install $(PIP_FLAGS) -e ".[lab]"
	@touch $@

$(STAMP_TEST): pyproject.toml | $(VENV_PY)
	$(PIP) install $(PIP_FLAGS) -e ".[test,docs]"
	@touch $@ $(STAMP_RUN) $(STAMP_DOCS)

# `.[docs]` lacks the `lab` extra, so the docs stamp does not stand for the runtime one.
$(STAMP_DOCS): pyproject.toml | $(VENV_PY)
	$(PIP) install $(PIP_FLAGS) -e ".[docs]"
	@touch $@

install: $(STAMP_RUN)

install-test: $(STAMP_TEST)

# --- everyday ----------------------------------------------------------------------------

lab: $(STAMP_RUN)
	@mkdir -p notebooks
	$(VENV)/bin/jupyter lab $(LAB_FLAGS)

test: $(STAMP_TEST)
	@bash scripts/ensure_browser.sh
	$(VENV_PY) -m pytest $(TESTS) $(PYTEST_ARGS)

claims: $(STAMP_RUN)
	$(VENV_PY) -m xnb.claims --out docs/claims.md $(CLAIMS_ARGS)

claims-quick: $(STAMP_RUN)
	$(VENV_PY) -m xnb.claims --quick --out '' $(CLAIMS_ARGS)

# mkdocs.yml: site_dir is site/; --strict turns every warning (broken link, reference, docstring) into an error.
docs: $(STAMP_DOCS)
	NO_MKDOCS_2_WARNING=1 $(VENV_PY) -m mkdocs build --strict

voila: $(STAMP_RUN)
	$(VENV_PY) scripts/serve_voila.py notebooks --no-browser --Voila.ip=$(IP) --port=$(VOILA_PORT)

# notebooks/NN_name.py (percent format, the reviewed source) and notebooks/NN_name.ipynb are paired by
# Jupytext (notebooks/jupytext.toml): --sync updates whichever of the two is older from the newer.
sync-notebooks: $(STAMP_RUN)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

# --keep-id: the cells keep their ids (nbstripout would renumber them 0, 1, ...), so a diff shows
# only what changed. tests/test_jupytext.py fails while a committed notebook needs stripping.
strip: $(STAMP_RUN)
	$(VENV)/bin/nbstripout --keep-id notebooks/*.ipynb

sync-deps:
	$(PYTHON) scripts/sync_deps.py

binder-url:
	@$(PYTHON) scripts/binder_url.py

weights: $(STAMP_RUN)
	$(VENV_PY) scripts/make_weights.py

bench: $(STAMP_RUN)
	@set -e; found=0; \
	for f in benchmarks/*.py; do \
		[ -e "$$f" ] || continue; \
		found=1; \
		echo "== $$f"; \
		$(VENV_PY) "$$f"; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks/*.py to run"

# --- cleaning ----------------------------------------------------------------------------

clean:
	rm -rf artifacts build dist site xnb/_notebooks .pytest_cache
	find . -path ./$(VENV) -prune -o -path ./.git -prune -o \
		\( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) \
		-type d -print -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
