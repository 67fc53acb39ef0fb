# etcdcrypt: one non-recursive GNU Makefile.
#   make            build/etcdcrypt
#   make check-unit the unit tier: every unit suite and the layering check, no etcd
#   make check      both tiers: unit, then integration (starts its own etcds on loopback)
#   make demo       throwaway etcd, sample secrets, the main workflow
#   make bench      side-by-side benchmarks (slow)
#   make fuzz       libFuzzer targets (clang)
#   make SANITIZE=address,undefined check
#   make valgrind   the unit suites under valgrind
# Dependencies come from Debian packages: scripts/deps.sh installs what is missing.

.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD ?= build
CC ?= cc
PKGS := grpc gpr libprotobuf-c libcrypto yaml-0.1 libsodium jansson
TEST_PKGS := check

# check, demo and bench install what is missing first (a fresh Debian machine).
ifneq ($(filter check demo bench bench-scale valgrind,$(MAKECMDGOALS)),)
DEPS_RC := $(shell bash scripts/deps.sh 1>&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/deps.sh failed; see the message above)
endif
endif

ifeq ($(filter deps clean distclean,$(MAKECMDGOALS)),)
MISSING := $(shell for p in $(PKGS) $(TEST_PKGS); do pkg-config --exists $$p || echo $$p; done)
ifneq ($(MISSING),)
$(error missing pkg-config packages: $(MISSING); run 'scripts/deps.sh' (as root) to install them)
endif
ifeq ($(shell command -v protoc-c),)
$(error protoc-c not found; run 'scripts/deps.sh' (as root) to install protobuf-c-compiler)
endif
endif

# -Wno-format-truncation: messages are cut to fixed buffers on purpose
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Wno-format-truncation -Werror
OPT ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -I. -Icore -I$(BUILD)/proto \
	$(shell pkg-config --cflags $(PKGS))
LIBS := $(shell pkg-config --libs $(PKGS)) -lm -lpthread
CHECK_CFLAGS := $(shell pkg-config --cflags check) -Itests/common
CHECK_LIBS := $(shell pkg-config --libs check)

ifneq ($(SANITIZE),)
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BASE_CFLAGS += $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
endif

# V=1 shows full command lines
ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS_OURS := $(BASE_CFLAGS) $(WARN) $(CFLAGS)
CFLAGS_GEN := $(BASE_CFLAGS) -Wall -Werror $(CFLAGS)

# ---- generated protobuf-c code -------------------------------------------
PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
PROTO_O := $(PROTO_C:.c=.o)

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/proto
	protoc-c --c_out=$(BUILD)/proto -Iproto $<

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c $(PROTO_H)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS_GEN) -c -o $@ $<

# ---- our code --------------------------------------------------------------
LIB_SRCS := $(wildcard core/*/*.c scan/*.c status/*.c audit/*.c rewrite/*.c node/*.c)
CMD_SRCS := $(wildcard cmd/*.c)
LIB_O := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
CMD_O := $(patsubst %.c,$(BUILD)/obj/%.o,$(CMD_SRCS))
LIB_A := $(BUILD)/libetcdcrypt.a

$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS_OURS) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_O) $(PROTO_O)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/etcdcrypt: $(CMD_O) $(LIB_A)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CMD_O) $(LIB_A) $(LIBS)

all: $(BUILD)/etcdcrypt

# ---- tests -------------------------------------------------------------------
# tests/unit: suites that need no etcd (make check-unit); tests/etcd: Check
# suites against the real etcds tests/run.sh starts (integration tier)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
ETCD_SRCS := $(wildcard tests/etcd/test_*.c)
ETCD_BINS := $(patsubst tests/etcd/%.c,$(BUILD)/tests/etcd/%,$(ETCD_SRCS))
TEST_COMMON := $(wildcard tests/common/*.c)
TEST_COMMON_O := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_COMMON))

$(BUILD)/obj/tests/%.o: tests/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	@echo '  CC      $<'
	$(Q)$(CC) $(CFLAGS_OURS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/etcd/%: $(BUILD)/obj/tests/etcd/%.o $(TEST_COMMON_O) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_COMMON_O) $(LIB_A) $(LIBS) $(CHECK_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_COMMON_O) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(TEST_COMMON_O) $(LIB_A) $(LIBS) $(CHECK_LIBS)

tests: $(UNIT_BINS) $(ETCD_BINS) $(BUILD)/etcdcrypt $(BUILD)/bench/loadgen

export ETCDCRYPT_FIXTURES := $(CURDIR)/fixtures
export ETCDCRYPT_BIN := $(CURDIR)/$(BUILD)/etcdcrypt
export ETCDCRYPT_BUILD := $(CURDIR)/$(BUILD)

check: tests
	bash tests/unit/layering.sh
	bash tests/run.sh $(UNIT_BINS) $(ETCD_BINS)

check-unit: $(UNIT_BINS)
	bash tests/unit/layering.sh
	bash tests/run.sh --unit-only $(UNIT_BINS)

valgrind: tests
	VALGRIND=1 bash tests/run.sh $(UNIT_BINS) $(ETCD_BINS)
	bash tests/valgrind-cli.sh

demo: all $(BUILD)/bench/loadgen
	bash scripts/demo.sh

bench: bench-tools
	bash bench/run.sh

# 100k and 1M secrets on tmpfs, one run of each job (needs ~10 GB of free RAM)
bench-scale: bench-tools
	BENCH_ONLY=scale bash bench/run.sh

fuzz:
	bash tests/fuzz/run.sh

deps:
	bash scripts/deps.sh

clean:
	rm -rf $(BUILD)

.PHONY: all tests check check-unit valgrind demo bench bench-scale fuzz deps clean
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- benchmarks ----------------------------------------------------------------
$(BUILD)/bench/%: bench/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	@echo '  LD      $@'
	$(Q)$(CC) $(CFLAGS_OURS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

bench-tools: $(BUILD)/bench/loadgen $(BUILD)/bench/rwbase $(BUILD)/etcdcrypt
.PHONY: bench-tools

# ---- shipping: man page, completion, dist tarball, .deb, install ----------------
#   make doc        build/etcdcrypt.1 and build/etcdcrypt.bash, from the --help texts
#   make dist       build/dist/etcdcrypt-VERSION-linux-ARCH.tar.gz (static but glibc)
#   make deb        build/deb/etcdcrypt_VERSION_ARCH.deb
#   make install    PREFIX=/usr/local DESTDIR= (the build's own binary)
VERSION := $(shell sed -n 's/^\#define ETCDCRYPT_VERSION "\(.*\)"/\1/p' cmd/cmd.h)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
CXX ?= g++
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/etcdcrypt
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DIST_NAME := etcdcrypt-$(VERSION)-linux-$(DEB_ARCH)

$(BUILD)/etcdcrypt.1: $(BUILD)/etcdcrypt scripts/helpdocs.py scripts/etcdcrypt.1.in docs/exit-codes.md cmd/etcdflags.h
	@echo '  MAN     $@'
	$(Q)python3 scripts/helpdocs.py man $< $@

$(BUILD)/etcdcrypt.bash: $(BUILD)/etcdcrypt scripts/helpdocs.py
	@echo '  GEN     $@'
	$(Q)python3 scripts/helpdocs.py completion $< $@

doc: $(BUILD)/etcdcrypt.1 $(BUILD)/etcdcrypt.bash
# make check's t_docs checks the page make built is the generator's current output
tests: doc

# Everything but glibc from Debian's .a files (gRPC's C++ core with libstdc++,
# abseil, re2, c-ares, upb, zlib, OpenSSL, protobuf-c, libyaml, libsodium,
# jansson). The link map tells scripts/dist.sh whose licences to ship.
DIST_LIBS = $(shell pkg-config --static --libs-only-l $(PKGS) libssl | tr ' ' '\n' | \
	grep -vxE -- '-l(dl|rt|m|pthread|atomic)' | awk 'NF && !s[$$0]++' | tr '\n' ' ')

$(BUILD)/static/etcdcrypt: $(CMD_O) $(LIB_A)
	@mkdir -p $(dir $@)
	@echo '  LD      $@ (static but glibc)'
	$(Q)$(CXX) $(LDFLAGS) -o $@ $(CMD_O) $(LIB_A) -static-libstdc++ -static-libgcc -Wl,-Map=$@.map \
		-Wl,-Bstatic -Wl,--start-group $(DIST_LIBS) -Wl,--end-group -latomic \
		-Wl,-Bdynamic -lm -ldl -lpthread -lrt

$(BUILD)/dist/$(DIST_NAME).tar.gz: $(BUILD)/static/etcdcrypt $(BUILD)/etcdcrypt.1 $(BUILD)/etcdcrypt.bash \
		scripts/dist.sh README.md $(wildcard docs/*.md deploy/*)
	$(Q)bash scripts/dist.sh $(BUILD) $(VERSION) $(DEB_ARCH)

$(BUILD)/deb/etcdcrypt_$(VERSION)_$(DEB_ARCH).deb: $(BUILD)/dist/$(DIST_NAME).tar.gz scripts/deb.sh
	$(Q)bash scripts/deb.sh $(BUILD) $(VERSION) $(DEB_ARCH) $(BUILD)/dist/$(DIST_NAME)

dist: $(BUILD)/dist/$(DIST_NAME).tar.gz
deb: $(BUILD)/deb/etcdcrypt_$(VERSION)_$(DEB_ARCH).deb

ifneq ($(filter dist deb,$(MAKECMDGOALS)),)
ifneq ($(SANITIZE),)
$(error make dist/deb link release objects: run them without SANITIZE (e.g. BUILD=build-dist))
endif
endif

install: $(BUILD)/etcdcrypt $(BUILD)/etcdcrypt.1 $(BUILD)/etcdcrypt.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSCONFDIR)/default $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/etcdcrypt $(DESTDIR)$(BINDIR)/etcdcrypt
	gzip -9n <$(BUILD)/etcdcrypt.1 >$(DESTDIR)$(MANDIR)/man1/etcdcrypt.1.gz
	install -m 0644 $(BUILD)/etcdcrypt.bash $(DESTDIR)$(BASHCOMPDIR)/etcdcrypt
	sed -e 's|/usr/bin/etcdcrypt|$(BINDIR)/etcdcrypt|' -e 's|/etc/default/etcdcrypt|$(SYSCONFDIR)/default/etcdcrypt|' \
		deploy/etcdcrypt.service >$(DESTDIR)$(SYSTEMDDIR)/etcdcrypt.service
	test -e $(DESTDIR)$(SYSCONFDIR)/default/etcdcrypt || \
		install -m 0600 deploy/etcdcrypt.default $(DESTDIR)$(SYSCONFDIR)/default/etcdcrypt
	install -m 0644 README.md $(filter-out docs/notes.md,$(wildcard docs/*.md)) $(DESTDIR)$(DOCDIR)/
	install -m 0644 deploy/daemonset.yaml deploy/Containerfile $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/etcdcrypt $(DESTDIR)$(MANDIR)/man1/etcdcrypt.1.gz \
		$(DESTDIR)$(BASHCOMPDIR)/etcdcrypt $(DESTDIR)$(SYSTEMDDIR)/etcdcrypt.service
	rm -rf $(DESTDIR)$(DOCDIR)

.PHONY: doc dist deb install uninstall
