# otclir build. Everything is discovered by pattern, so adding a program,
# a library file or a test needs no edit here:
#   lib/LAYER/*.c     -> build/VARIANT/libotclir.a (layers: lib/README.md)
#   lib/LAYER/*.cc    -> the same archive (C++: only the SentencePiece shim)
#   bin/NAME.c        -> bin/NAME
#   tests/unit/test_*.c -> C unit tests (TAP on stdout, exit non-zero on failure)
#   tests/bats/*.bats -> one bats file per program
# Variants: `make` (release, into bin/ and lib/), `make asan` (AddressSanitizer +
# UBSan, into build/asan/). `make test` runs the unit and bats tests on both.

CC      ?= cc
CXX     ?= c++
OPT     ?= -O2 -march=x86-64-v2
CFLAGS  ?= $(OPT) -g
WARN     = -Wall -Wextra -Wno-unused-parameter
CPPFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Ilib -I$(GEN) $(CPPFLAGS)
# --as-needed: a program links a shared library only if it calls it, so rec,
# tokenize and score (no matrix products) do not load OpenBLAS
# (tests/bats/layers.bats checks this with ldd).
LDFLAGS_ALL = -Wl,--as-needed $(LDFLAGS)
# -lsentencepiece -lstdc++: only programs that call the SentencePiece
# tokenizer (text/spm_proc.cc, the one C++ file) pull it from the archive,
# so --as-needed keeps them out of rec, score, rank... (tokenize.bats: ldd).
LDLIBS   = -lzstd -lyaml -lmd -lopenblas -lsentencepiece -lstdc++ -lm -lpthread
PREFIX  ?= /usr/local
SHELL    = /bin/bash

# Variant layout: release objects under build/release, asan under build/asan.
VARIANT ?= release
LIBA = build/$(VARIANT)/libotclir.a
ifeq ($(VARIANT),release)
  BINDIR = bin
else
  BINDIR = build/$(VARIANT)/bin
endif
OBJ = build/$(VARIANT)/obj
GEN = build/gen
TESTBIN = build/$(VARIANT)/tests

LIB_SRC  = $(sort $(wildcard lib/*/*.c lib/*/*/*.c))
LIB_CXX  = $(sort $(wildcard lib/*/*.cc))
BIN_SRC  = $(sort $(wildcard bin/*.c))
TEST_SRC = $(sort $(wildcard tests/unit/test_*.c))
SCHEMAS  = $(sort $(wildcard schemas/*.yaml))
PROGS    = $(patsubst bin/%.c,$(BINDIR)/%,$(BIN_SRC))
TESTS    = $(patsubst tests/unit/%.c,$(TESTBIN)/%,$(TEST_SRC))
LIB_OBJ  = $(patsubst lib/%.c,$(OBJ)/lib/%.o,$(LIB_SRC)) $(patsubst lib/%.cc,$(OBJ)/lib/%.o,$(LIB_CXX)) \
           $(OBJ)/gen/schemas_gen.o

.PHONY: unicode-tables all asan test test-release test-asan check unit bats install uninstall man clean bench fuzz progs tests
all: progs
progs: $(LIBA) $(PROGS)
tests: $(TESTS)

$(GEN)/schemas_gen.c: $(SCHEMAS) scripts/embed-schemas
	@mkdir -p $(GEN)
	scripts/embed-schemas $(SCHEMAS) > $@.tmp && mv $@.tmp $@

# Header dependencies come from the compiler (-MMD): each object is rebuilt
# when a header it includes changes, and only then.
$(OBJ)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

# The C++ shim over libsentencepiece (lib/text/spm_proc.cc): same flags.
$(OBJ)/lib/%.o: lib/%.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -Ilib $(CPPFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(OBJ)/gen/schemas_gen.o: $(GEN)/schemas_gen.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WARN) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BINDIR)/%: bin/%.c $(LIBA)
	@mkdir -p $(dir $@) $(OBJ)/bin
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS) $(WARN) -MMD -MP -MF $(OBJ)/bin/$*.d -MT $@ $(LDFLAGS_ALL) -o $@ $< $(LIBA) $(LDLIBS)

$(TESTBIN)/%: tests/unit/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) -Itests/unit $(CFLAGS) $(WARN) -MMD -MP -MF $@.d -MT $@ $(LDFLAGS_ALL) -o $@ $< $(LIBA) $(LDLIBS)

-include $(shell find build/$(VARIANT) -name '*.d' 2>/dev/null)

# ---- generated code: the tokenizer's Unicode tables (committed) ----
# `make unicode-tables` regenerates them from the installed UCD (Debian's
# unicode-data); tests/bats/layers.bats checks the committed file equals a
# fresh generation whenever the UCD is installed.
unicode-tables:
	scripts/gen-unicode-tables /usr/share/unicode lib/text

# ---- sanitizer variant ----
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan:
	$(MAKE) VARIANT=asan CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" progs tests

# ---- tests ----
# Unit tests and bats print TAP; tests/run-tests counts "ok"/"not ok" and ends
# with "N passed, N failed". OTCLIR_BIN tells the bats files which binaries to run.
unit: progs tests
	@tests/run-tests unit $(TESTBIN)
bats: progs
	@OTCLIR_BIN=$(CURDIR)/$(BINDIR) tests/run-tests bats
test-release: progs tests
	@OTCLIR_BIN=$(CURDIR)/$(BINDIR) tests/run-tests all $(TESTBIN)
# Leaks are checked in the unit tests (the library); the programs of the bats
# half exit on errors and closed pipes with their buffers still allocated, so
# there LeakSanitizer is off (docs/reliability.md).
ASAN_ENV = UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OTCLIR_BIN=$(CURDIR)/build/asan/bin OTCLIR_SANITIZED=1
test-asan: asan
	@rc=0; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $(ASAN_ENV) tests/run-tests unit build/asan/tests || rc=1; \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 $(ASAN_ENV) tests/run-tests bats || rc=1; \
	  exit $$rc
test:
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-asan
check: test

# ---- man pages from --help (help2man), install ----
man: progs
	@mkdir -p build/man
	@for p in $(PROGS); do n=$$(basename $$p); \
	  help2man --no-info --no-discard-stderr \
	    -n "$$(sed -n "s/^ \* *$$n: *//p" bin/$$n.c | head -1)" -o build/man/$$n.1 ./$$p || exit 1; done

install: progs man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/otclir/schemas $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(SCHEMAS) schemas/README.md $(DESTDIR)$(PREFIX)/share/otclir/schemas/
	install -m 644 build/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(patsubst bin/%.c,$(DESTDIR)$(PREFIX)/bin/%,$(BIN_SRC))
	rm -f $(patsubst bin/%.c,$(DESTDIR)$(PREFIX)/share/man/man1/%.1,$(BIN_SRC))
	rm -rf $(DESTDIR)$(PREFIX)/share/otclir

# ---- benchmarks (not part of test): each bench/*.sh appends to bench/results/ ----
bench: progs
	@for b in bench/*.sh; do echo "== $$b"; bash $$b || exit 1; done

# ---- fuzzing (not in CI): libFuzzer on the frame reader (fuzz_rec),    ----
# ---- score's TREC readers and evaluator (fuzz_trec) and SentencePiece  ----
# ---- model files (fuzz_spm), FUZZ_SECONDS each                          ----
FUZZ_SECONDS ?= 300
fuzz:
	$(MAKE) VARIANT=fuzz CC=clang CXX=clang++ CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" build/fuzz/libotclir.a
	@mkdir -p build/fuzz/corpus build/fuzz/corpus-trec
	clang -std=c11 -D_GNU_SOURCE -Ilib -Ibuild/gen -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o build/fuzz/fuzz_rec tests/fuzz/fuzz_rec.c build/fuzz/libotclir.a $(LDLIBS)
	build/fuzz/fuzz_rec -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus tests/fuzz/seeds
	clang -std=c11 -D_GNU_SOURCE -Ilib -Ibuild/gen -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o build/fuzz/fuzz_trec tests/fuzz/fuzz_trec.c build/fuzz/libotclir.a $(LDLIBS)
	build/fuzz/fuzz_trec -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-trec tests/fuzz/seeds-trec
	@mkdir -p build/fuzz/corpus-spm
	clang -std=c11 -D_GNU_SOURCE -Ilib -Ibuild/gen -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -c -o build/fuzz/fuzz_spm.o tests/fuzz/fuzz_spm.c
	clang++ -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz_spm build/fuzz/fuzz_spm.o build/fuzz/libotclir.a $(LDLIBS)
	build/fuzz/fuzz_spm -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-spm tests/fuzz/seeds-spm

clean:
	rm -rf build $(PROGS)
