# mqttguard — plain GNU Makefile.  Flags come from pkg-config only.
#
#   make            build build/mqttguard
#   make test       unit tests (Check) + integration tests (real Mosquitto)
#   make unit       unit tests only
#   make asan       the same daemon and tests built with ASan+UBSan in build/asan
#   make test-asan  the whole suite against the sanitizer build
#   make valgrind   memcheck over a session mix (part of make test)
#   make soak       SOAKTIME seconds (default 60) of mixed load, RSS and fds
#   make fuzz       each libFuzzer target (clang) for FUZZTIME seconds
#   make fuzz-replay  each target once over its corpus in test/corpus (in test)
#   make bench      benchmarks (ratios against baselines measured in the same run)
#   make demo       mqttguard with policies/example.yaml in front of a local Mosquitto
#   make install    PREFIX=/usr/local DESTDIR= sysconfdir=/etc: the binary,
#                   mqttguard(8), mqttguard.yaml(5), the systemd unit and
#                   (if absent) sysconfdir/mqttguard/mqttguard.yaml
#   make install-strip  the same with the binary stripped
#   make deb        build/mqttguard_VERSION-1_ARCH.deb (dist/debian), lintian
#   make deb-test   install it in a debootstrap chroot and use it (root)

PREFIX	?= /usr/local
prefix	?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir	?= $(exec_prefix)/bin
BINDIR	?= $(bindir)
datarootdir ?= $(prefix)/share
mandir	?= $(datarootdir)/man
# The policy's home is /etc whatever the prefix: the daemon's default -c
# path is compiled from it (make clean after changing it).
sysconfdir ?= /etc
systemdunitdir ?= $(prefix)/lib/systemd/system
DESTDIR	?=
INSTALL	?= install
INSTALL_STRIP ?=
BUILD	?= build
CC	?= cc
CFLAGS	?= -O2 -g
WERROR	?= 0
FUZZTIME ?= 30
PYTHON	?= /usr/bin/python3

PKGS	:= libevent libevent_pthreads openssl yaml-0.1 libargon2
# libwslay (WebSocket framing, src/ws.c): Debian's libwslay-dev ships no
# .pc file, so its plain -lwslay stands in when pkg-config has none.
WSLAY_CFLAGS := $(shell pkg-config --cflags libwslay 2>/dev/null)
WSLAY_LIBS := $(shell pkg-config --libs libwslay 2>/dev/null || echo -lwslay)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)) $(WSLAY_CFLAGS)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) $(WSLAY_LIBS)
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS   := $(shell pkg-config --libs check)
# Tests only: test/check_topic.c compares our matcher with libmosquitto's.
MOSQ_CFLAGS  := $(shell pkg-config --cflags libmosquitto)
MOSQ_LIBS    := $(shell pkg-config --libs libmosquitto)

WARN	:= -Wall -Wextra -Wshadow -Wpointer-arith -Wformat=2 \
	   -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN	+= -Werror
endif

ALL_CFLAGS  := -std=c11 $(WARN) $(CFLAGS) -pthread
ALL_CPPFLAGS := -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS) $(CPPFLAGS) \
	   -DCMD_POLICY_DEFAULT='"$(sysconfdir)/mqttguard/mqttguard.yaml"'
VERSION	:= $(shell cat VERSION 2>/dev/null || echo 0.0.0)

SRCS	:= $(wildcard src/*.c)
LIBOBJS	:= $(patsubst src/%.c,$(BUILD)/%.o,$(filter-out src/main.c,$(SRCS)))
MAINOBJ	:= $(BUILD)/main.o
TSRCS	:= $(wildcard test/check_*.c)
TOBJS	:= $(patsubst test/%.c,$(BUILD)/test/%.o,$(TSRCS))

BIN	:= $(BUILD)/mqttguard
TBIN	:= $(BUILD)/check_mqttguard

.PHONY: all test unit integration depcheck asan test-asan fuzz fuzz-build fuzz-replay bench demo \
	install install-strip uninstall deb deb-test clean certs valgrind soak FORCE

all: $(BIN)

$(BIN): $(MAINOBJ) $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Only main.c embeds the version: a bump rebuilds it.
$(MAINOBJ): src/main.c VERSION | $(BUILD)
	$(CC) $(ALL_CPPFLAGS) -DMQTTGUARD_VERSION='"$(VERSION)"' $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test/%.o: test/%.c | $(BUILD)/test
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) $(MOSQ_CFLAGS) $(ALL_CFLAGS) \
	    -MMD -MP -c -o $@ $<

$(TBIN): $(TOBJS) $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) \
	    $(MOSQ_LIBS)

$(BUILD) $(BUILD)/test:
	mkdir -p $@

# Unit tests run in $(BUILD)/unit, a copy of test/data beside links to
# certs/ and policies/: git keeps no file modes but 0644/0755, and the
# loader refuses secrets others may read, so the copies of the secret
# fixtures are made 0600 there and the tracked files are left alone.
UNITDIR	:= $(BUILD)/unit
unit: $(TBIN) certs/server.crt
	rm -rf $(UNITDIR) && mkdir -p $(UNITDIR)/test
	cp -R test/data $(UNITDIR)/test/data
	chmod 600 $(UNITDIR)/test/data/*.passwd $(UNITDIR)/test/data/*.secret
	ln -s $(abspath certs) $(UNITDIR)/certs
	ln -s $(abspath policies) $(UNITDIR)/policies
	# A timeout only catches a hang (no test times anything): Check's
	# default of 4 s per test is too short on a loaded machine.
	cd $(UNITDIR) && CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-30} \
	    $(abspath $(TBIN))

integration: $(BIN)
	MQTTGUARD_BIN=$(abspath $(BIN)) $(PYTHON) -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning test/integration

# The module graph: no include circle, the data path one way.
depcheck:
	$(PYTHON) scripts/depcheck.py

# valgrind cannot run a sanitizer build: test-asan leaves it out.
test: depcheck unit fuzz-replay integration $(if $(SANBUILD),,valgrind)

# About a minute: 30 s of load under memcheck, then its leak check.
valgrind: $(BIN)
	MQTTGUARD_BIN=$(abspath $(BIN)) scripts/valgrind.sh 30

SOAKTIME ?= 60
soak: $(BIN)
	MQTTGUARD_BIN=$(abspath $(BIN)) scripts/soak.sh $(SOAKTIME)

SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_MAKE := $(MAKE) BUILD=build/asan WERROR=$(WERROR) SANBUILD=1 \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer $(SAN)" LDFLAGS="$(SAN)"

asan:
	$(SAN_MAKE) all build/asan/check_mqttguard

test-asan:
	$(SAN_MAKE) test

# libFuzzer needs clang.  Every target links the daemon's modules (all of
# src/ but main.c), built once more with the fuzzer's instrumentation in
# build/fuzz/obj.  fuzz-replay runs each target once over its corpus
# (test/corpus/<target without fuzz_>); fuzz runs a campaign of FUZZTIME
# seconds per target, new inputs going to build/fuzz/corpus/<target>.
FUZZ_TARGETS := codec session policy passwd acl_file acl_match ws
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer $(WARN) \
	    -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_OBJS   := $(patsubst src/%.c,build/fuzz/obj/%.o,$(filter-out \
	    src/main.c,$(SRCS)))
FUZZ_BINS   := $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))

build/fuzz/obj/%.o: src/%.c include/mqttguard/*.h
	@mkdir -p build/fuzz/obj
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_%: test/fuzz/fuzz_%.c test/fuzz/*.h $(FUZZ_OBJS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) \
	    $(PKG_LIBS) -pthread

fuzz-build: $(FUZZ_BINS)

fuzz-replay: $(FUZZ_BINS)
	for t in $(FUZZ_TARGETS); do \
	    build/fuzz/fuzz_$$t -runs=0 test/corpus/$$t || exit 1; done

fuzz: $(FUZZ_BINS)
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t && \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZTIME) -max_len=4096 \
	    -print_final_stats=1 build/fuzz/corpus/$$t test/corpus/$$t \
	    || exit 1; done

$(BUILD)/bench_codec: test/bench_codec.c src/codec.c src/topic.c \
    include/mqttguard/codec.h include/mqttguard/topic.h | $(BUILD)
	$(CC) -std=c11 $(WARN) -O2 -g -Iinclude -D_GNU_SOURCE -o $@ \
	    test/bench_codec.c src/codec.c src/topic.c

BENCH_ACL_SRCS := src/acl.c src/topic.c src/util.c src/hmap.c src/siphash.c
$(BUILD)/bench_acl: test/bench_acl.c $(BENCH_ACL_SRCS) include/mqttguard/*.h \
    | $(BUILD)
	$(CC) -std=c11 $(WARN) -O2 -g -Iinclude -D_GNU_SOURCE -o $@ \
	    test/bench_acl.c $(BENCH_ACL_SRCS)

bench: $(BIN)
	scripts/bench.sh

demo: $(BIN)
	scripts/demo.sh

certs certs/server.crt:
	scripts/gen-certs.sh certs

# The shipped policy is the example with its paths under sysconfdir; the
# unit's paths follow BINDIR and sysconfdir.  An existing policy is never
# overwritten.  Both are made again each time (FORCE): they follow the
# variables of this run.
ETCDIR	:= $(sysconfdir)/mqttguard
$(BUILD)/dist/mqttguard.yaml: policies/example.yaml FORCE | $(BUILD)
	mkdir -p $(BUILD)/dist
	{ printf '# %s: installed by mqttguard; see mqttguard.yaml(5).\n' \
	    '$(ETCDIR)/mqttguard.yaml'; \
	  printf '# Put the TLS files and the password file beside it (chmod 600,\n'; \
	  printf '# owned by the user mqttguard runs as), then: mqttguard -t\n#\n'; \
	  sed -e 's|\.\./certs/|$(ETCDIR)/|g' \
	      -e 's|^#   scripts/demo.sh|#   (with the policy\x27s files in place)|' \
	      policies/example.yaml; } > $@

$(BUILD)/dist/mqttguard.service: dist/mqttguard.service FORCE | $(BUILD)
	mkdir -p $(BUILD)/dist
	sed -e 's|/usr/bin/mqttguard|$(BINDIR)/mqttguard|g' \
	    -e 's|/etc/mqttguard|$(ETCDIR)|g' dist/mqttguard.service > $@

install: $(BIN) $(BUILD)/dist/mqttguard.yaml $(BUILD)/dist/mqttguard.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(mandir)/man8 \
	    $(DESTDIR)$(mandir)/man5 $(DESTDIR)$(systemdunitdir) \
	    $(DESTDIR)$(ETCDIR)
	$(INSTALL) -m 0755 $(INSTALL_STRIP) $(BIN) $(DESTDIR)$(BINDIR)/mqttguard
	$(INSTALL) -m 0644 dist/man/mqttguard.8 $(DESTDIR)$(mandir)/man8/
	$(INSTALL) -m 0644 dist/man/mqttguard.yaml.5 $(DESTDIR)$(mandir)/man5/
	$(INSTALL) -m 0644 $(BUILD)/dist/mqttguard.service \
	    $(DESTDIR)$(systemdunitdir)/mqttguard.service
	[ -e $(DESTDIR)$(ETCDIR)/mqttguard.yaml ] || \
	    $(INSTALL) -m 0644 $(BUILD)/dist/mqttguard.yaml \
	    $(DESTDIR)$(ETCDIR)/mqttguard.yaml

FORCE:

install-strip:
	$(MAKE) INSTALL_STRIP=-s install

deb: $(BIN)
	scripts/deb.sh

# Root, debootstrap and the mirror; minutes: not part of make test.
deb-test:
	scripts/deb-test.sh

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mqttguard \
	    $(DESTDIR)$(mandir)/man8/mqttguard.8 \
	    $(DESTDIR)$(mandir)/man5/mqttguard.yaml.5 \
	    $(DESTDIR)$(systemdunitdir)/mqttguard.service

clean:
	rm -rf build

-include $(wildcard $(BUILD)/*.d $(BUILD)/test/*.d)
