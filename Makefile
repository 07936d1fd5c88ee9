# clusterd — build, test, demo, bench, install. build, release, test, demo and bench install the Debian
# packages they need first; install-build, install and uninstall never do (they change no system package).
SWIFT ?= swift
SWIFT_FLAGS ?=
KEEP ?= 0

# Installation. `make install` builds release and installs into $(DESTDIR)$(PREFIX); with DESTDIR set,
# nothing outside DESTDIR is written. BINARIES_FROM=DIR installs the programs already built in DIR
# instead of building (e.g. `sudo make install BINARIES_FROM=.build/release` after `make install-build`).
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
# In systemd's search path for both PREFIX=/usr/local and PREFIX=/usr; UNITDIR=/etc/systemd/system for
# the administrator's own directory.
UNITDIR ?= $(PREFIX)/lib/systemd/system
# The node home the units run clusterd and cluster-api on.
WAZUH_HOME ?= /var/ossec
BINARIES_FROM ?=
# Installed programs carry the Swift runtime, so they run on hosts without a Swift toolchain.
INSTALL_SWIFT_FLAGS ?= --static-swift-stdlib
INSTALL_VARS = DESTDIR='$(DESTDIR)' BINDIR='$(BINDIR)' MANDIR='$(MANDIR)' UNITDIR='$(UNITDIR)' WAZUH_HOME='$(WAZUH_HOME)'

.PHONY: all deps build release test demo bench bench-scale clean install install-build uninstall faults soak

all: build

deps:
	@./scripts/install-deps

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)

test: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_FLAGS)

demo: build
	@KEEP=$(KEEP) ./scripts/demo

bench: release
	@./scripts/bench

# The release build make install installs from.
install-build:
	$(SWIFT) build -c release $(INSTALL_SWIFT_FLAGS) $(SWIFT_FLAGS)

ifeq ($(BINARIES_FROM),)
install: install-build
	@$(INSTALL_VARS) BINARIES_FROM="$$($(SWIFT) build -c release $(INSTALL_SWIFT_FLAGS) $(SWIFT_FLAGS) --show-bin-path)" ./scripts/install-tree install
else
install:
	@$(INSTALL_VARS) BINARIES_FROM='$(BINARIES_FROM)' ./scripts/install-tree install
endif

uninstall:
	@$(INSTALL_VARS) ./scripts/install-tree uninstall

# The whole fault suite (issue #14): every scenario, with the table of results at the end. `make test`
# runs a short subset of it. FaultSuiteTests puts a fault proxy on each worker's link on the loopback;
# NetnsFaultTests runs each node in a network namespace of its own (own address, a bridge between them)
# and makes the links bad with tc netem (delay, loss, a partition) or, without netem, nftables (loss, a
# partition), and kills a worker whose session then stays half-open on the master. The namespaces need
# root and iproute2; a scenario that cannot run here is skipped with the reason in its row.
faults: deps
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	@rm -f $${TMPDIR:-/tmp}/clusterd-faults.md
	CLUSTERD_FAULTS=all $(SWIFT) test --skip-build $(SWIFT_FLAGS) --filter 'FaultSuiteTests|NetnsFaultTests'; status=$$?; \
	  echo; cat $${TMPDIR:-/tmp}/clusterd-faults.md 2>/dev/null; exit $$status

# A long run (issue #14): master, ten workers, 20,000 agents, files changing, MINUTES minutes (30);
# RSS, descriptors and CPU of every daemon every 10 s into a CSV, and the master's RSS slope.
soak: release
	@MINUTES=$(or $(MINUTES),30) ./scripts/soak

# Wazuh's cluster scale test on this machine (issue #15): a master and 25 workers, 50,000 agents, 10,000
# files, MINUTES minutes (10); task times from cluster.log and resources per daemon beside wazuh-qa's
# thresholds.
bench-scale: release
	@MINUTES=$(or $(MINUTES),10) ./scripts/scale

clean:
	rm -rf .build

# Fuzzing (README "Fuzzing"): each libFuzzer harness in Fuzz/ for SECONDS seconds (TARGETS: a subset).
SECONDS ?= 60
TARGETS ?=
.PHONY: fuzz
fuzz: deps
	@./scripts/fuzz $(SECONDS) $(TARGETS)
