# vsphere-dr: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
# Everything is installed by these rules: Debian packages (as root) and a local virtualenv.

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
GOVMOMI   := /usr/share/gocode/src/github.com/vmware/govmomi
VCSIM_SRC := $(wildcard tools/vcsim/*.go)
# Files added to govmomi's simulator package: the build sees govmomi through a
# shadow GOPATH (build/gopath) of symlinks to Debian's source, where
# tools/vcsim/_overlay/simulator/X.go shows as simulator/vcsim_X.go. The files
# under /usr/share/gocode are never changed.
OVERLAY_SRC := $(wildcard tools/vcsim/_overlay/simulator/*.go)
# Stock methods that the overlay replaces, as FILE:METHOD: in the shadow, FILE is
# a copy (not a link) in which METHOD is renamed stockMETHOD, so that the overlay
# can define METHOD as vCenter behaves and still call the stock one. The
# simulator finds a SOAP method by name on the Go type, so no wrapper type
# could take its place.
STOCK_RENAMES := virtual_machine.go:CloneVMTask virtual_machine.go:RelocateVMTask \
	folder.go:AddStandaloneHostTask cluster_compute_resource.go:AddHostTask \
	custom_fields_manager.go:SetField custom_fields_manager.go:AddCustomFieldDef \
	custom_fields_manager.go:RemoveCustomFieldDef custom_fields_manager.go:RenameCustomFieldDef property_filter.go:apply \
	property_collector.go:WaitForUpdatesEx property_collector.go:apply \
	property_collector.go:DestroyPropertyCollector
STOCK_COPIES := $(sort $(foreach r,$(STOCK_RENAMES),$(firstword $(subst :, ,$(r)))))
SHADOW    := build/gopath
SHADOW_GOVMOMI := $(SHADOW)/src/github.com/vmware/govmomi
SIM_ENV   := GO111MODULE=off GOPATH=$(CURDIR)/$(SHADOW):/usr/share/gocode
TOPOLOGY  := tools/vcsim/example-topology.json
DEMO_LISTEN := 127.0.0.1:18989
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test fast cassettes bench vcsim vet venv system-deps venv-deps go-deps clean

# The inventory of the example lab, then a host failure: the plan and the recovery (tools/demo.py).
demo: $(STAMP) build/vcsim
	$(PY) -m vsphere_dr.simulator --topology $(TOPOLOGY) --listen $(DEMO_LISTEN) -- \
		$(PY) tools/demo.py

# The crash-safety core, measured: at least 90% of its lines run by the fast tests.
CORE_COV := --cov=vsphere_dr.executor --cov=vsphere_dr.recoveries --cov=vsphere_dr.journal \
	--cov=vsphere_dr.snapshot_rotation --cov=vsphere_dr.drills --cov=vsphere_dr.drill_marks \
	--cov-report=term --cov-fail-under=90

# The fast tests first (no simulator: the fake vCenter in tests/), then those on the simulator.
test: $(STAMP) build/vcsim
	$(PY) -m pytest -m "not live" $(CORE_COV)
	$(PY) -m pytest -m live

# The fast tests alone: needs neither Go nor the simulator.
fast: $(STAMP)
	$(PY) -m pytest -m "not live" $(CORE_COV)

# Re-record every cassette against a freshly started simulator.
cassettes: $(STAMP) build/vcsim
	VSPHERE_DR_RECORD=1 $(PY) -m pytest -m cassette

bench: $(STAMP) build/vcsim
	$(PY) bench/inventory.py
	$(PY) bench/recovery.py
	$(PY) bench/health.py
	$(PY) bench/detection.py
	$(PY) bench/probes.py

vcsim: build/vcsim

# Rebuilt only when a source file changed (make compares timestamps).
build/vcsim: $(VCSIM_SRC) $(OVERLAY_SRC) $(SHADOW)/.stamp | go-deps
	$(SIM_ENV) go build -o $@ ./tools/vcsim

# The shadow GOPATH: every entry of govmomi's source linked as is, except the
# simulator package, whose entries are linked one by one beside the added files.
$(SHADOW)/.stamp: $(OVERLAY_SRC) Makefile | go-deps
	rm -rf $(SHADOW)
	mkdir -p $(SHADOW_GOVMOMI)/simulator
	for e in $(GOVMOMI)/*; do [ "$${e##*/}" = simulator ] || ln -s $$e $(SHADOW_GOVMOMI)/; done
	for e in $(GOVMOMI)/simulator/*; do case " $(STOCK_COPIES) " in \
		*" $${e##*/} "*) cp $$e $(SHADOW_GOVMOMI)/simulator/ ;; *) ln -s $$e $(SHADOW_GOVMOMI)/simulator/ ;; esac; done
	for r in $(STOCK_RENAMES); do f=$(SHADOW_GOVMOMI)/simulator/$${r%%:*}; m=$${r##*:}; \
		grep -q "^func ([a-z]* \*[A-Za-z]*) $$m(" $$f || { echo "$${r%%:*} has no method $$m to rename"; exit 1; }; \
		sed -i "s/^\(func ([a-z]* \*[A-Za-z]*) \)$$m(/\1stock$$m(/" $$f; done
	for f in $(OVERLAY_SRC); do ln -s ../../../../../../../$$f $(SHADOW_GOVMOMI)/simulator/vcsim_$${f##*/}; done
	touch $@

# go vet and gofmt, as the simulator's sources must pass both.
vet: $(SHADOW)/.stamp | go-deps
	$(SIM_ENV) go vet ./tools/vcsim
	@out=$$(gofmt -l tools/vcsim); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

venv: $(STAMP)

$(STAMP): pyproject.toml | venv-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-deps: venv-deps go-deps

# python3-venv is what Debian needs for `-m venv`.
venv-deps:
	@if ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		echo "installing Debian packages: python3-venv"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	fi

# Go and govmomi's source build the simulator.
go-deps:
	@if ! command -v go >/dev/null || [ ! -d $(GOVMOMI)/simulator ]; then \
		echo "installing Debian packages: golang-go golang-github-vmware-govmomi-dev"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-vmware-govmomi-dev; \
	fi

clean:
	rm -rf build $(VENV) .pytest_cache
