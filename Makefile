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

# Sanitizer builds (tests/c/run.sh --sanitize, tests/c/lsan.supp). The library's C parts
# (capi/*.c and cgo's glue) are compiled with AddressSanitizer + UBSan into
# a library of their own; the Go code is not instrumented, but every malloc,
# free and C memory access of the data path is checked, and LeakSanitizer
# checks what is left at exit.
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_DIR   := $(BUILD)/asan
ASAN_LIB   := $(ASAN_DIR)/libw3sock.so.$(SOVERSION)
# Every C test but test_limits (24 s of waiting on the kernel; its server
# process has nothing the other tests do not run under ASan).
C_TESTS_ASAN := $(patsubst tests/c/%.c,$(BUILD)/tests-asan/%,$(filter-out tests/c/test_limits.c,$(wildcard tests/c/test_*.c)))
TSAN_TESTS := $(BUILD)/tsan/fastpath_protocol $(BUILD)/tsan/fastpath_protocol_asan

.PHONY: all lib test demo install check-exports test-go test-c test-sanitize test-asan test-tsan test-python test-node test-interop bench deps clean

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

test: lib deps test-go test-c test-sanitize test-interop test-python test-node
	@echo "make test: all suites passed"

test-go:
	$(GO) vet ./core/... ./capi/...
	$(GO) test -race -count=1 -timeout 600s ./core/...

test-c: $(C_TESTS) $(C_EXAMPLES)
	@tests/c/run.sh $(C_TESTS)

# ASan + UBSan + LeakSanitizer over the C tests, then ThreadSanitizer over
# the data-path protocol. A sanitizer report fails the target.
test-sanitize: test-asan test-tsan

test-asan: $(C_TESTS_ASAN)
	@tests/c/run.sh --sanitize $(C_TESTS_ASAN)

test-tsan: $(TSAN_TESTS)
	@tests/c/run.sh --tsan $(TSAN_TESTS)

test-interop: $(C_EXAMPLES)
	@tests/interop/run.sh

test-python: lib
	bindings/python/run-tests.sh

test-node: lib
	bindings/node/run-tests.sh

demo: lib $(C_EXAMPLES)
	examples/run-demo.sh

bench: lib $(C_BENCH)
	tests/bench/run.sh

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libw3sock.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libw3sock.so
	install -m 0644 include/w3sock.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' w3sock.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/w3sock.pc

clean:
	rm -rf $(BUILD)
