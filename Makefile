# Entry points. `make demo` runs the full loop on the embedded stack; `make test` runs every check.
# Both install what they need from the lock file (uv.lock) into .venv/ first, with bytecode compiled at
# install: where PYTHONDONTWRITEBYTECODE is set, nothing else would ever cache it, and every task process
# would compile MLflow, scikit-learn and Great Expectations from source again (import mlflow: 7.6 s
# against 3.4 s with bytecode on this kind of machine).

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo stop test lint unit integration e2e bench clean

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: uv.lock pyproject.toml $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

demo: install
	$(BIN)/python -m mlops_provider.demo.run

stop: install
	$(BIN)/python -m mlops_provider.demo.run --stop

lint: install
	$(BIN)/ruff check src tests dags benchmarks plugins docs/examples
	$(BIN)/ruff format --check src tests dags benchmarks plugins docs/examples
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest tests/unit -q

# The end-to-end and distributed-mode tests mostly wait on their own Airflow schedulers and workers, so they run
# beside the rest of the suite (three pytest sessions, separate state, ports and databases); their reports are
# printed after the other one's. The run fails when any does.
test: lint
	@mkdir -p .test-logs
	@$(BIN)/python -m pytest tests/e2e -q -ra --durations=10 > .test-logs/e2e.log 2>&1 & e2e=$$!; \
	$(BIN)/python -m pytest tests/distributed -q -ra --durations=10 > .test-logs/distributed.log 2>&1 & dist=$$!; \
	$(BIN)/python -m pytest -q -ra --durations=10 --ignore=tests/e2e --ignore=tests/distributed; rest=$$?; \
	wait $$e2e; e2e_rc=$$?; wait $$dist; dist_rc=$$?; \
	echo; echo "== tests/e2e (ran beside the above)"; cat .test-logs/e2e.log; \
	echo; echo "== tests/distributed (ran beside the above)"; cat .test-logs/distributed.log; \
	echo "== exit: unit+integration $$rest, e2e $$e2e_rc, distributed $$dist_rc"; \
	test $$rest -eq 0 && test $$e2e_rc -eq 0 && test $$dist_rc -eq 0

bench: install
	$(BIN)/python benchmarks/parse.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/dashboard.py

clean: stop
	rm -rf .mlops
