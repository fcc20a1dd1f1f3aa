# ctrlready — `make run` serves the dashboard with its worker; `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6.1 needs Python 3.12 or newer: take the first one found.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: help run test migrate demo bench mutation clean

help:
	@echo "make run    create .venv, install, migrate, load the demo and serve http://127.0.0.1:8000"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks behind the README's figures"
	@echo "make mutation  mutation-test the pure cores against their own tests (minutes; not part of make test)"

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (Django 6.1 requires it)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	$(BIN)/python manage.py run_local

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/page.py
	$(BIN)/python bench/across.py
	$(BIN)/python bench/probes.py
	$(BIN)/python bench/ticks.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/events.py

# Each pure core mutated by mutmut and run against its own test file(s); prints killed / total per core.
mutation: $(STAMP)
	$(BIN)/python bench/mutation.py

clean:
	rm -rf $(VENV) var db.sqlite3 staticfiles
