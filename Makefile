# vsphere-dr: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
# Everything is installed by these rules: Debian packages (as root) and a local virtualenv.

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
GOVMOMI   := /usr/share/gocode/src/github.com/vmware/govmomi
GO_ENV    := GO111MODULE=off GOPATH=/usr/share/gocode
VCSIM_SRC := $(wildcard tools/vcsim/*.go)
TOPOLOGY  := tools/vcsim/example-topology.json
DEMO_LISTEN := 127.0.0.1:18989
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test cassettes bench vcsim venv system-deps clean

demo: $(STAMP) build/vcsim
	$(PY) -m vsphere_dr.simulator --topology $(TOPOLOGY) --listen $(DEMO_LISTEN) -- \
		$(VENV)/bin/vsphere-dr --config settings.ini inventory

test: $(STAMP) build/vcsim
	$(PY) -m pytest

# Re-record every cassette against a freshly started simulator.
cassettes: $(STAMP) build/vcsim
	VSPHERE_DR_RECORD=1 $(PY) -m pytest -m cassette

bench: $(STAMP) build/vcsim
	$(PY) bench/inventory.py

vcsim: build/vcsim

# Rebuilt only when a source file changed (make compares timestamps).
build/vcsim: $(VCSIM_SRC) | system-deps
	mkdir -p build
	$(GO_ENV) go build -o $@ ./tools/vcsim

venv: $(STAMP)

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Go and govmomi's source build the simulator; python3-venv is what Debian needs for `-m venv`.
system-deps:
	@if ! command -v go >/dev/null || [ ! -d $(GOVMOMI)/simulator ] || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		echo "installing Debian packages: golang-go golang-github-vmware-govmomi-dev python3-venv"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-vmware-govmomi-dev python3-venv; \
	fi

clean:
	rm -rf build $(VENV) .pytest_cache
