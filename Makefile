# Quick start: `make demo`, `make test`.  Both set everything up on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
APT_PACKAGES := gcc make pkg-config libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3 nginx-light wrk openssl \
	clang libclang-rt-14-dev valgrind clang-format-14
ASAN_LIB = $(shell gcc -print-file-name=libasan.so)
SANITIZE_ENV = LD_PRELOAD=$(ASAN_LIB) ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONMALLOC=malloc \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all system-deps venv build build-sanitize test test-sanitize demo bench clean \
	fuzz-build fuzz fuzz-regress test-valgrind check-layers lint format

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

test: build check-layers fuzz-regress
	$(VPY) -m pytest tests

# The layering of src/ (docs/ARCHITECTURE.md): no Python.h below src/py, includes only to
# earlier layers, no two files calling each other (from the normal build's objects).
check-layers: build
	$(VPY) tools/check_layers.py --objects build/normal

# The C style (.clang-format, 100 columns) of src/ and tests/c/, and the layering.
CLANG_FORMAT ?= clang-format-14
# (float_repr_table.h is written by src/json/gen_pow10_table.py, not by hand)
C_FILES = $(filter-out src/json/float_repr_table.h,$(wildcard src/*/*.[ch] tests/c/*.c tests/c/fuzz/*.[ch]))
lint: check-layers
	$(CLANG_FORMAT) --dry-run --Werror $(C_FILES)
	@echo "lint: $(words $(C_FILES)) C files formatted as .clang-format says"

format: | system-deps
	$(CLANG_FORMAT) -i $(C_FILES)

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
	$(VPY) bench/store.py

# ---------- fuzzing (libFuzzer; tests/c/fuzz, README "Fuzzing") ----------
# Every src/*/*.c is compiled with clang's coverage instrumentation and ASan+UBSan into
# build/fuzz/libfwc.a; each tests/c/fuzz/fuzz_<t>.c links against it (and libpython,
# which src/py needs; only the snapshot target starts an interpreter).
FUZZ_CC ?= clang
FUZZ_TARGETS := json_parse expr tmpl snapshot_write verify h1_response snapshot_decode
FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz
FUZZ_SRC := tests/c/fuzz
FUZZ_SAN := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE=1 -Wall -Wno-unused-parameter -Isrc $(shell $(PYTHON)-config --includes) \
	$(shell curl-config --cflags 2>/dev/null)
FUZZ_LIBS = $(shell $(PYTHON)-config --embed --ldflags) -lcurl -lcrypto -lsqlite3 -lpthread -lm
# per-target input size bound and options for every run
FUZZ_MAXLEN_json_parse := 65536
FUZZ_MAXLEN_expr := 4096
FUZZ_MAXLEN_tmpl := 4096
FUZZ_MAXLEN_snapshot_write := 4096
FUZZ_MAXLEN_verify := 4096
FUZZ_MAXLEN_h1_response := 65536
FUZZ_MAXLEN_snapshot_decode := 65536
FUZZ_RUN_OPTS := -timeout=10 -rss_limit_mb=2048
paren := )
FUZZ_OBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(wildcard src/*/*.c))

$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard src/*/*.h) | system-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libfwc.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_SRC)/fuzz_%.c $(FUZZ_SRC)/fuzz_common.h $(FUZZ_DIR)/libfwc.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $< $(FUZZ_DIR)/libfwc.a $(FUZZ_LIBS) -o $@

fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))

# Fuzzes each target for FUZZ_SECONDS from its seeds (tests/c/fuzz/seeds/<t>) with its
# dictionary; the corpus grows in build/fuzz/corpus/<t>, crashing inputs land in
# build/fuzz/findings/<t>/ (minimise one with `build/fuzz/fuzz_<t> -minimize_crash=1
# -runs=10000 <file>`, then commit it under tests/c/fuzz/regressions/<t>/).
fuzz: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/findings/$$t; \
		case $$t in $(foreach t,$(FUZZ_TARGETS),$(t)$(paren) maxlen=$(FUZZ_MAXLEN_$(t));;) esac; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS)s (-max_len=$$maxlen)"; \
		if $(FUZZ_DIR)/fuzz_$$t $(FUZZ_DIR)/corpus/$$t $(FUZZ_SRC)/seeds/$$t -dict=$(FUZZ_SRC)/dicts/$$t.dict \
			-max_total_time=$(FUZZ_SECONDS) -max_len=$$maxlen $(FUZZ_RUN_OPTS) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/findings/$$t/ >$(FUZZ_DIR)/fuzz_$$t.log 2>&1; then \
			grep -E '^#[0-9]+.*DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss)' \
				$(FUZZ_DIR)/fuzz_$$t.log; \
		else \
			tail -n 40 $(FUZZ_DIR)/fuzz_$$t.log; \
			echo "!! fuzz_$$t found a crash: see $(FUZZ_DIR)/findings/$$t/ and $(FUZZ_DIR)/fuzz_$$t.log"; status=1; \
		fi; \
	done; exit $$status

# Runs every committed regression input and seed once through its target: fails on any
# crash, sanitizer report, leak or timeout.
fuzz-regress: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
		files=$$(find $(FUZZ_SRC)/seeds/$$t $(FUZZ_SRC)/regressions/$$t -type f 2>/dev/null | sort); \
		[ -n "$$files" ] || continue; \
		if $(FUZZ_DIR)/fuzz_$$t $(FUZZ_RUN_OPTS) $$files >$(FUZZ_DIR)/regress_$$t.log 2>&1; then \
			echo "fuzz-regress $$t: $$(echo "$$files" | wc -l) inputs ok"; \
		else \
			echo "!! fuzz-regress $$t failed:"; grep -E 'Running:|ERROR|SUMMARY|fuzz check' $(FUZZ_DIR)/regress_$$t.log | tail -n 8; \
			status=1; \
		fi; \
	done; exit $$status

clean:
	rm -rf build $(VENV) frappe_webhook_c/*.so *.egg-info .pytest_cache .hypothesis
