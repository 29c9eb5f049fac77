# w3sock: `make` builds build/libw3sock.so; `make test` runs every suite;
# `make demo` runs the examples end to end. See README.md.

SHELL      := /bin/bash
GO         ?= go
CC         ?= gcc
PREFIX     ?= /usr/local
SOVERSION  := 0
VERSION    := 0.1.0
BUILD      := build
LIB        := $(BUILD)/libw3sock.so
CFLAGS_T   := -std=c99 -Wall -Wextra -Werror -pedantic -O2 -g -Iinclude -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
LDFLAGS_T  := -L$(BUILD) -lw3sock -Wl,-rpath,$(abspath $(BUILD)) -lpthread
GOSRC      := $(shell find core capi -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map') include/w3sock.h go.mod go.sum

C_TESTS    := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))
C_EXAMPLES := $(patsubst examples/c/%.c,$(BUILD)/examples/%,$(wildcard examples/c/*.c))
C_BENCH    := $(patsubst tests/bench/c/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/c/*.c))

.PHONY: all lib test demo install check-exports test-go test-c test-python test-node test-interop bench bench-programs test-bench-quick deps clean

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

$(BUILD)/examples/%: examples/c/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

$(BUILD)/bench/%: tests/bench/c/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_T) -o $@ $< $(LDFLAGS_T)

deps:
	@tests/deps.sh

test: lib deps test-go test-c test-interop test-python test-node test-bench-quick
	@echo "make test: all suites passed"

test-go:
	$(GO) vet ./core/... ./capi/...
	$(GO) test -race -count=1 -timeout 600s ./core/...

test-c: $(C_TESTS) $(C_EXAMPLES)
	@tests/c/run.sh $(C_TESTS)

test-interop: $(C_EXAMPLES)
	@tests/interop/run.sh

test-python: lib
	bindings/python/run-tests.sh

test-node: lib
	bindings/node/run-tests.sh

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

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libw3sock.so
	install -m 0644 include/w3sock.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' w3sock.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/w3sock.pc

clean:
	rm -rf $(BUILD)
