# TwinSync: build, test, benchmark, install. `make test` is everything CI runs.

TARGET := $(shell rustc -vV | sed -n 's/^host: //p')
STATIC := target/$(TARGET)/release/twinsync
PREFIX ?= /usr/local
SCENARIO ?=
FILES ?= 20000

.PHONY: build static test unit e2e bench install clean

build:
	cargo build --release

# One statically linked binary (glibc's crt-static), to drop onto a rescue system.
static:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target $(TARGET)
	@ldd $(STATIC) 2>&1 | grep -qE 'not a dynamic executable|statically linked' \
		|| { echo "$(STATIC) is not statically linked"; exit 1; }
	@echo "$(CURDIR)/$(STATIC)"

# Formatting, lints, the in-process tests, then the real-machine suite (root only; always
# under CI=true). Without root it says loudly that the suite did not run.
test: unit
	@if [ "$$(id -u)" = 0 ] || [ "$$CI" = true ]; then \
		$(MAKE) --no-print-directory e2e; \
	else \
		echo; \
		echo "************************************************************************"; \
		echo "*  end-to-end suite NOT RUN: it needs root (sudo make e2e)              *"; \
		echo "************************************************************************"; \
	fi

unit:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo test -- --skip e2e::

# The real-machine suite: a Debian root made with debootstrap, booted with systemd-nspawn.
# One scenario: make e2e SCENARIO=snapshot
e2e: static
	TWINSYNC_E2E=1 TWINSYNC_BIN="$(CURDIR)/$(STATIC)" TWINSYNC_E2E_SCENARIO="$(SCENARIO)" \
		cargo test --bin twinsync e2e:: -- --nocapture --test-threads=1

# The snapshot benchmark (issue 8): a generated tree of FILES files in a temporary folder, the
# static binary against cp -a + git and etckeeper; medians of 3 runs. make bench FILES=100000
bench: static
	@test -x /usr/bin/time || { apt-get update && apt-get install -y time; }
	TWINSYNC_BIN="$(CURDIR)/$(STATIC)" BENCH_FILES="$(FILES)" \
		cargo test --release bench:: -- --ignored --nocapture --test-threads=1

install: static
	install -m 0755 $(STATIC) $(PREFIX)/bin/twinsync

clean:
	cargo clean
