# clusterd — build, test, demo, bench. Every target installs the Debian packages it needs first.
SWIFT ?= swift
SWIFT_FLAGS ?=
KEEP ?= 0

.PHONY: all deps build release test demo bench clean

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

clean:
	rm -rf .build

# Fuzzing (README "Fuzzing"): each libFuzzer harness in Fuzz/ for SECONDS seconds (TARGETS: a subset).
SECONDS ?= 60
TARGETS ?=
.PHONY: fuzz
fuzz: deps
	@./scripts/fuzz $(SECONDS) $(TARGETS)
