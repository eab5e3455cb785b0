# Mercator: one command each for the common jobs. Everything runs from the .venv it creates,
# so a fresh machine needs only Python 3.11+ and make.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every service that exists so far; a new services/<name>/pyproject.toml is picked up by itself.
SERVICE_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))
# Tools beside the services, installed the same way (libs/demo: `mercator demo`).
TOOL_DIRS := libs/demo
PROJECTS := libs/common/pyproject.toml $(addsuffix /pyproject.toml,$(TOOL_DIRS) $(SERVICE_DIRS))
# Each service with its `test` extra when its pyproject.toml declares one (`test = [` under
# [project.optional-dependencies]), plainly otherwise.
WITH_TEST_EXTRA := $(patsubst %/pyproject.toml,%,$(shell grep -lsE '^test[[:space:]]*=[[:space:]]*\[' $(addsuffix /pyproject.toml,$(SERVICE_DIRS)) </dev/null))
SERVICE_INSTALLS := $(foreach d,$(SERVICE_DIRS),-e '$(d)$(if $(filter $(d),$(WITH_TEST_EXTRA)),[test])')
PYTEST_ARGS ?=

.PHONY: venv system run test lint format bench bench-gateway bench-notifications bench-import events clean demo bench-analytics web

venv: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "Mercator needs Python 3.11 or newer; '$(PYTHON)' is: $$($(PYTHON) --version 2>/dev/null || echo 'not found')." >&2; \
	  echo "Install one, or name it: make PYTHON=python3.12 venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { \
	  echo "'$(PYTHON) -m venv' failed; on Debian/Ubuntu install the python3-venv package." >&2; \
	  rm -rf $(VENV); exit 1; }

# Re-install only when a pyproject.toml is newer than the stamp (the installs are editable,
# so source edits need nothing).
$(STAMP): $(PROJECTS) | $(PY)
	$(PY) -m pip install --quiet -e 'libs/common[test]' $(addprefix -e ,$(TOOL_DIRS)) $(SERVICE_INSTALLS)
	@touch $@

# Debian packages the tests use as real components (deploy/debian-packages.txt); needs root.
system:
	bash deploy/system-packages

run: venv web
	$(PY) -m mercator.common.devrun

test: venv web lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The gate: lint and format (ruff, ruff.toml) and types (mypy, mypy.ini: the domains strictly) over every
# package; any finding fails it. `make format` applies ruff's formatting and safe fixes.
PACKAGE_SRCS := $(wildcard libs/*/src/mercator/* services/*/src/mercator/*)
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	MYPYPATH=$(subst $(eval) ,:,$(wildcard libs/*/src services/*/src)) $(VENV)/bin/mypy $(foreach p,$(PACKAGE_SRCS),-p mercator.$(notdir $(p)))

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The web front end (web/, served by the gateway at /): rebuilt only when one of its sources changed.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) $(wildcard web/index.html web/package.json \
	web/package-lock.json web/vite.config.ts web/tsconfig.json web/build.py)
web: web/dist/index.html

web/dist/index.html: $(WEB_SOURCES) | $(PY)
	$(PY) web/build.py

bench: venv
	$(PY) bench/bus.py

bench-gateway: venv
	$(PY) bench/gateway.py

# Fill a running, empty Mercator with the demo company through the gateway (make run does it by itself; libs/demo).
demo: venv
	$(VENV)/bin/mercator demo

# Analytics projection throughput and report latency beside DuckDB; BENCH_ARGS="--deals 100000" for a quick run.
bench-analytics: venv
	$(PY) -m pip install --quiet -e 'services/analytics[bench]'
	$(PY) bench/analytics.py $(BENCH_ARGS)

bench-notifications: venv
	$(PY) bench/notifications.py

bench-import: venv
	$(PY) bench/import.py

events: venv
	$(PY) -m mercator.common.events.export --out docs/events

clean:
	rm -rf var/

# Kubernetes manifests in deploy/kubernetes, written from the table in generate.py (tests fail when they drift).
.PHONY: k8s
k8s: venv
	$(PY) deploy/kubernetes/generate.py

# deploy/requirements.lock: every third-party package the images install, at exact versions with their
# hashes, compiled from deploy/requirements.in (libs/common's and each service's pyproject.toml) for the
# images' Python. Run after changing a dependency; tests/security fails while the lock does not satisfy one.
UV_VERSION := uv>=0.5,<1
.PHONY: lock
lock: venv
	$(PY) -m pip install --quiet '$(UV_VERSION)'
	$(VENV)/bin/uv pip compile deploy/requirements.in --generate-hashes --python-version 3.11 \
	  --python-platform linux --custom-compile-command 'make lock' \
	  $(addprefix --no-emit-package mercator-,common $(notdir $(SERVICE_DIRS))) -o deploy/requirements.lock

# One image per service, tagged as deploy/kubernetes and docker-compose.yml name it (tests/security checks
# `make -n images` against both). IMAGE_TAG=... builds another tag; push with your registry's prefix.
IMAGE_TAG ?= 0.1.0
DOCKER ?= docker
.PHONY: images
images: $(addprefix image-,$(notdir $(SERVICE_DIRS)))

# One of them: make image-gateway.
image-%:
	$(DOCKER) build -f deploy/Dockerfile --build-arg SERVICE=$* -t mercator/$*:$(IMAGE_TAG) .
