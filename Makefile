# The two set-up commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# the examples' fake model server: beside the web port (8090 for 8000), so a second `make run`
# with another PORT gets its own; its URL reaches the server as WORKFLOW_LLM_BASE_URL
LLM_PORT ?= $(shell expr $(PORT) + 90)

.PHONY: run run-cluster test install bench migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

# the demo runs with DJANGO_DEBUG=1 (a development key, detailed errors); a deployment leaves it
# off and sets DJANGO_SECRET_KEY (see README.md, Settings)
run: export DJANGO_DEBUG ?= 1
run: export WORKFLOW_LLM_BASE_URL ?= http://127.0.0.1:$(LLM_PORT)/v1
run: migrate
	$(BIN)/python manage.py loaddemo
	@# the examples' model: a local fake OpenAI-compatible server (no network needed)
	$(BIN)/python examples/fake_llm.py $(LLM_PORT) & echo $$! > var/fake_llm-$(PORT).pid
	@echo "Serving on http://$(HOST):$(PORT)/ (the examples' fake model on port $(LLM_PORT): LLM_PORT=... to change)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) builder.asgi:application; kill $$(cat var/fake_llm-$(PORT).pid) 2>/dev/null || true

# the celery mode on one machine (docs/deploy.md): the local PostgreSQL and Redis, daphne on
# $(PORT), 2 celery workers, the fake model server; `runcluster` creates the database when it is
# missing, migrates, loads the demo, and stops every process on Ctrl+C
run-cluster: export DJANGO_DEBUG ?= 1
run-cluster: export WORKFLOW_EXECUTION = celery
run-cluster: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/workflows
run-cluster: export REDIS_URL ?= redis://127.0.0.1:6379/0
run-cluster: export WORKFLOW_LLM_BASE_URL ?= http://127.0.0.1:$(LLM_PORT)/v1
run-cluster: install
	mkdir -p var
	@echo "Serving on http://$(HOST):$(PORT)/ (celery mode: $(DATABASE_URL), $(REDIS_URL))"
	$(BIN)/python manage.py runcluster --host $(HOST) --port $(PORT) --workers 2 --llm-port $(LLM_PORT)

# every test on SQLite, then the tests that use the database once more on PostgreSQL (a database
# of the session's own on the local server: tests/settings.py; skipped when it is not reachable,
# except with REQUIRE_SERVICES=1 as in CI)
test: install
	mkdir -p var
	$(BIN)/python -m pytest
	WORKFLOW_TEST_DATABASE=postgres $(BIN)/python -m pytest tests/builder tests/security

bench: install
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) var
