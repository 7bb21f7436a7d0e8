# Quick start: `make demo`, `make test`.  Both set everything up on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
APT_PACKAGES := gcc make pkg-config libcurl4-openssl-dev libssl-dev nginx-light wrk openssl valgrind
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
SANITIZE_ENV = LD_PRELOAD=$(ASAN_LIB) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONMALLOC=malloc \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all system-deps venv build build-sanitize test test-sanitize test-valgrind demo bench clean

all: build

# Debian packages the build, the tests and the benchmarks need; installed only if missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml setup.py | system-deps
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	$(VPY) -m pip install -q -e '.[test]'
	touch $@

venv: system-deps $(VENV)/.installed

# The extension is built in place, so the tests import the tree; the sanitizer build
# uses its own temp dir and is replaced by a normal build afterwards.
build: venv
	$(VPY) setup.py -q build_ext --inplace --build-temp build/normal

build-sanitize: venv
	FWC_SANITIZE=1 $(VPY) setup.py -q build_ext --inplace --force --build-temp build/sanitize

test: build
	$(VPY) -m pytest tests

test-sanitize: build-sanitize
	$(SANITIZE_ENV) $(VPY) -m pytest tests -p no:cacheprovider; status=$$?; \
	$(VPY) setup.py -q build_ext --inplace --force --build-temp build/normal; exit $$status

# Every public operation a few times under valgrind's memcheck (tests/valgrind_check.py).
test-valgrind: build
	$(VPY) tests/valgrind_check.py 3

demo: build
	$(VPY) -m frappe_webhook_c demo

bench: build
	$(VPY) -m pip install -q requests Jinja2
	$(VPY) -c 'import pycurl' 2>/dev/null || $(VPY) -m pip install -q --no-binary pycurl pycurl
	$(VPY) bench/build.py
	$(VPY) bench/templates.py
	$(VPY) bench/conditions.py
	$(VPY) bench/dispatch.py

clean:
	rm -rf build $(VENV) frappe_webhook_c/*.so *.egg-info .pytest_cache .hypothesis
