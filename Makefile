# w3sock: `make` builds build/libw3sock.so; `make test` runs every suite;
# `make demo` runs the examples end to end. See README.md.

SHELL      := /bin/bash
GO         ?= go
CC         ?= gcc
PREFIX     ?= /usr/local
# The version lives in VERSION alone; the SONAME follows its major number
# (ABI policy in include/w3sock.h). `make test-abi` checks that the header's
# W3S_VERSION_* macros and the bindings' package versions agree with it.
VERSION    := $(shell cat VERSION)
SOVERSION  := $(firstword $(subst ., ,$(VERSION)))
BUILD      := build
LIB        := $(BUILD)/libw3sock.so
CFLAGS_T   := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -g -Iinclude -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LDFLAGS_T  := -L$(BUILD) -lw3sock -Wl,-rpath,$(abspath $(BUILD)) -lpthread
GOSRC      := $(shell find core capi -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map') include/w3sock.h go.mod go.sum VERSION

C_TESTS    := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))
C_EXAMPLES := $(patsubst examples/c/%.c,$(BUILD)/examples/%,$(wildcard examples/c/*.c))
C_BENCH    := $(patsubst tests/bench/c/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/c/*.c))

# Sanitizer builds (tests/c/run.sh --sanitize, tests/c/lsan.supp). The library's C parts
# (capi/*.c and cgo's glue) are compiled with AddressSanitizer + UBSan into
# a library of their own; the Go code is not instrumented, but every malloc,
# free and C memory access of the data path is checked, and LeakSanitizer
# checks what is left at exit.
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_DIR   := $(BUILD)/asan
ASAN_LIB   := $(ASAN_DIR)/libw3sock.so.$(SOVERSION)
# Every C test but test_limits (24 s of waiting on the kernel; its server
# process has nothing the other tests do not run under ASan) and
# test_send_nomem (it defines its own malloc to fail allocations, which
# ASan's allocator cannot share a process with) and test_abuse (0.8 s
# plain, 70-100 s of system time under ASan on 2 cores: `make test-asan-all`
# runs it too).
C_TESTS_ASAN := $(patsubst tests/c/%.c,$(BUILD)/tests-asan/%,$(filter-out tests/c/test_limits.c tests/c/test_send_nomem.c tests/c/test_abuse.c,$(wildcard tests/c/test_*.c)))
TSAN_TESTS := $(BUILD)/tsan/fastpath_protocol $(BUILD)/tsan/fastpath_protocol_asan

.PHONY: all lib test demo install check-exports test-abi test-go test-c test-sanitize test-asan test-asan-all test-tsan test-python test-node test-interop test-dist dist docs bench bench-programs test-bench-quick deps clean \
        fuzz test-fuzz soak test-soak

all: lib

lib: $(LIB)

$(LIB): $(GOSRC)
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -buildmode=c-shared \
	  -ldflags="-extldflags=-Wl,-soname,libw3sock.so.$(SOVERSION),--version-script=$(abspath capi/exports.map)" \
	  -o $(BUILD)/libw3sock.so.$(SOVERSION) ./capi
	rm -f $(BUILD)/libw3sock.so.$(SOVERSION:%=%).h $(BUILD)/libw3sock.so.h
	ln -sf libw3sock.so.$(SOVERSION) $(LIB)
	@$(MAKE) --no-print-directory check-exports
	@# bindings pick the library up from inside their packages too
	cp -f $(BUILD)/libw3sock.so.$(SOVERSION) bindings/python/w3sock/libw3sock.so 2>/dev/null || true
	cp -f $(BUILD)/libw3sock.so.$(SOVERSION) bindings/node/libw3sock.so 2>/dev/null || true

# The header and the library must declare exactly the same functions.
check-exports:
	@gcc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/w3sock.h
	@grep -oE '\bw3s_[a-z0-9_]+\(' include/w3sock.h | tr -d '(' | sort -u > $(BUILD)/header.syms
	@nm -D --defined-only $(BUILD)/libw3sock.so.$(SOVERSION) | awk '$$2=="T"{print $$3}' | grep '^w3s_' | sort -u > $(BUILD)/lib.syms
	@if ! diff -u $(BUILD)/header.syms $(BUILD)/lib.syms; then \
	  echo "check-exports: include/w3sock.h and libw3sock.so disagree (- header only, + library only)"; exit 1; fi
	@echo "check-exports: $$(wc -l < $(BUILD)/lib.syms) functions, header and library agree"

$(BUILD)/tests/%: tests/c/%.c tests/c/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -Itests/c -o $@ $< $(LDFLAGS_T)

$(ASAN_LIB): $(GOSRC)
	@mkdir -p $(ASAN_DIR)
	CGO_CFLAGS="-O1 -g $(SAN_FLAGS)" CGO_LDFLAGS="$(SAN_FLAGS)" $(GO) build -trimpath -buildmode=c-shared \
	  -ldflags="-extldflags=-Wl,-soname,libw3sock.so.$(SOVERSION),--version-script=$(abspath capi/exports.map)" \
	  -o $@ ./capi
	rm -f $(ASAN_DIR)/libw3sock.so.$(SOVERSION).h
	ln -sf libw3sock.so.$(SOVERSION) $(ASAN_DIR)/libw3sock.so

$(BUILD)/tests-asan/%: tests/c/%.c tests/c/testutil.h $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) $(SAN_FLAGS) -Itests/c -o $@ $< -L$(ASAN_DIR) -lw3sock -Wl,-rpath,$(abspath $(ASAN_DIR)) -lpthread

# The data-path protocol of capi/fastpath.c under ThreadSanitizer (and
# ASan+UBSan+LSan), against a C stand-in for its Go half (tests/tsan/).
PROTO_SRC  := tests/tsan/fastpath_protocol.c tests/tsan/go_standin.c capi/fastpath.c
PROTO_DEPS := $(PROTO_SRC) tests/tsan/go_standin.h tests/tsan/_cgo_export.h capi/fastpath.h capi/shim.h include/w3sock.h
PROTO_CC   := $(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -Itests/tsan -Icapi -Iinclude

$(BUILD)/tsan/fastpath_protocol: $(PROTO_DEPS)
	@mkdir -p $(dir $@)
	$(PROTO_CC) -fsanitize=thread -o $@ $(PROTO_SRC) -lpthread

$(BUILD)/tsan/fastpath_protocol_asan: $(PROTO_DEPS)
	@mkdir -p $(dir $@)
	$(PROTO_CC) $(SAN_FLAGS) -o $@ $(PROTO_SRC) -lpthread

$(BUILD)/examples/%: examples/c/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

$(BUILD)/bench/%: tests/bench/c/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

deps:
	@tests/deps.sh

test: lib deps test-abi test-go test-fuzz test-c test-sanitize test-soak test-interop test-python test-node test-dist docs test-bench-quick
	@echo "make test: all suites passed"

# The shared tables (error codes, event types, struct layouts, version) in
# the header, core/, the Python and the Node binding agree (tests/abi).
test-abi: $(LIB) $(BUILD)/w3sock.pc
	@[ -d bindings/node/node_modules/koffi ] || (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
	@python3 tests/abi/check_tables.py $(abspath $(LIB))

$(BUILD)/w3sock.pc: w3sock.pc.in VERSION
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

test-go:
	$(GO) vet ./core/... ./capi/...
	$(GO) test -race -count=1 -timeout 600s ./core/...

test-c: $(C_TESTS) $(C_EXAMPLES) $(BUILD)/faultproxy
	@tests/c/run.sh $(C_TESTS)

# The fault-injecting proxy tests/c/test_faults.c runs transfers through.
$(BUILD)/faultproxy: tests/faultproxy/main.go
	@mkdir -p $(BUILD)
	$(GO) build -o $@ ./tests/faultproxy

# Fuzzing: `go test -fuzz` takes one target per run. `make fuzz` runs each
# for FUZZTIME; `make test` runs each for a few seconds (the checked-in
# corpora in */testdata/fuzz also run as plain tests in test-go).
FUZZTIME     ?= 2m
FUZZ_TARGETS := core:FuzzAddress core:FuzzTLSOptions core:FuzzStreamModel capi:FuzzOptionStructs
fuzz: lib
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
	  echo "fuzz: $$name for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || exit 1; \
	done

test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=4s

# Soak: connections opened, used, half-closed and aborted without pause
# while RSS, descriptors and goroutines are sampled (tests/soak/soak.c).
SOAK_SECONDS ?= 600
$(BUILD)/soak: tests/soak/soak.c tests/c/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -Itests/c -o $@ $< $(LDFLAGS_T) -lm

soak: $(BUILD)/soak
	$(BUILD)/soak $(SOAK_SECONDS)

test-soak: $(BUILD)/soak
	$(BUILD)/soak 30

# ASan + UBSan + LeakSanitizer over the C tests, then ThreadSanitizer over
# the data-path protocol. A sanitizer report fails the target.
test-sanitize: test-asan test-tsan

test-asan: $(C_TESTS_ASAN)
	@tests/c/run.sh --sanitize $(C_TESTS_ASAN)

# The long form: every C test that can run under ASan, test_abuse included.
test-asan-all: $(C_TESTS_ASAN) $(BUILD)/tests-asan/test_abuse
	@tests/c/run.sh --sanitize $^

test-tsan: $(TSAN_TESTS)
	@tests/c/run.sh --tsan $(TSAN_TESTS)

test-interop: $(C_EXAMPLES)
	@tests/interop/run.sh

test-python: lib
	bindings/python/run-tests.sh

test-node: lib
	bindings/node/run-tests.sh

# Release libraries, one per architecture (packaging/build-lib.sh: zig cc as
# cgo's compiler, glibc 2.17 symbols, stripped); rebuilt only when the sources
# change (and reused from build/dist-cache/ when the same sources come back).
# `make dist` packs them into dist/: the sdist, a manylinux wheel per
# architecture and the npm tarball (packaging/dist.sh). `make test-dist` checks
# those as a user gets them and runs the arm64 C suite under qemu (tests/dist).
DIST_LIBS  := $(foreach a,amd64 arm64,$(BUILD)/dist/linux-$(a)/libw3sock.so.$(SOVERSION))

$(BUILD)/dist/linux-%/libw3sock.so.$(SOVERSION): $(GOSRC) packaging/build-lib.sh packaging/tools.sh
	@echo "packaging/build-lib.sh $* $@ (SOURCES: the $(words $(GOSRC)) files of GOSRC)"
	@SOURCES="$(GOSRC)" nice -n 10 packaging/build-lib.sh $* $@

dist: $(DIST_LIBS)
	packaging/dist.sh

test-dist: dist
	tests/dist/run.sh

# HTML API reference in build/docs/ from the header, the Python docstrings and
# index.d.ts (packaging/docs/build.sh installs pdoc and typedoc into build/);
# a broken reference fails it, so `make test` runs it.
docs: lib
	packaging/docs/build.sh

demo: lib $(C_EXAMPLES)
	examples/run-demo.sh

# The benchmark (tests/bench/run.py says how it measures): one Go
# load generator, echo servers on every stack, results.md and results.png.
BENCH_PROGRAMS := $(BUILD)/bench/loadgen $(BUILD)/bench/goserver $(BUILD)/bench/w3sock_echo \
                  $(BUILD)/bench/libuv_echo $(C_BENCH)

bench: lib
	tests/bench/run.sh

# A brief run of every scenario (BENCH_QUICK=1, results in build/bench-quick):
# checks that each implementation produced a figure, never how fast.
test-bench-quick: lib
	tests/bench/run.sh quick

bench-programs: $(BENCH_PROGRAMS)

$(BUILD)/bench/loadgen: $(wildcard tests/bench/loadgen/*.go)
	$(GO) build -o $@ ./tests/bench/loadgen

$(BUILD)/bench/goserver: $(wildcard tests/bench/servers/go/*.go)
	$(GO) build -o $@ ./tests/bench/servers/go

$(BUILD)/bench/w3sock_echo: tests/bench/servers/c/w3sock_echo.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

$(BUILD)/bench/libuv_echo: tests/bench/servers/c/libuv_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< -luv

install: lib $(BUILD)/w3sock.pc
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libw3sock.so
	install -m 0644 include/w3sock.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 $(BUILD)/w3sock.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/w3sock.pc

clean:
	rm -rf $(BUILD) dist
