# Two commands do everything on a fresh machine:
#   make run   – portal with demo data on SQLite at http://127.0.0.1:8000
#   make test  – the whole suite: SQLite lane, PostgreSQL lane (when reachable; always in CI), browser lane
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST    ?= 127.0.0.1
PORT    ?= 8000
VNU     := node_modules/vnu-jar/build/dist/vnu.jar

.PHONY: run test install migrate demo bench clean messages

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(VNU):
	npm install --no-save --no-audit --no-fund --ignore-scripts vnu-jar@26.9.27 >/dev/null

migrate: $(STAMP)
	PORTAL_ENV=$${PORTAL_ENV:-demo} $(VENV)/bin/portal db migrate

demo: migrate
	PORTAL_ENV=$${PORTAL_ENV:-demo} $(VENV)/bin/portal demo load

run: demo
	@echo "Serving on http://$(HOST):$(PORT)  (demo accounts: see README; password whistle-demo-2026)"
	PORTAL_ENV=$${PORTAL_ENV:-demo} $(VENV)/bin/granian --interface asgi --host $(HOST) --port $(PORT) \
		--workers 1 --log-level warning portal.asgi:app

test: $(STAMP) $(VNU)
	PY=$(PY) sh tests/lanes.sh

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf var .test-artifacts

# Extract every message from the code and templates into the .pot, then merge it into the zh_CN catalog
# (portal.i18n compiles the .po in memory, so there is no compile step).
messages:
	$(VENV)/bin/pybabel extract -F babel.cfg -o portal/locale/messages.pot --no-location --sort-output .
	$(VENV)/bin/pybabel update -i portal/locale/messages.pot -d portal/locale -l zh_CN --no-fuzzy-matching --ignore-obsolete
