# mqttguard — plain GNU Makefile.  Flags come from pkg-config only.
#
#   make            build build/mqttguard
#   make test       unit tests (Check) + integration tests (real Mosquitto)
#   make unit       unit tests only
#   make asan       the same daemon and tests built with ASan+UBSan in build/asan
#   make test-asan  the whole suite against the sanitizer build
#   make fuzz       libFuzzer targets (clang), short run over test/corpus
#   make bench      benchmarks (ratios against baselines measured in the same run)
#   make demo       mqttguard with policies/example.yaml in front of a local Mosquitto
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
DESTDIR	?=
BUILD	?= build
CC	?= cc
CFLAGS	?= -O2 -g
WERROR	?= 0
FUZZTIME ?= 30

PKGS	:= libevent libevent_openssl libevent_pthreads openssl yaml-0.1 libargon2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
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
ALL_CPPFLAGS := -Iinclude -D_GNU_SOURCE $(PKG_CFLAGS) $(CPPFLAGS)
VERSION	:= $(shell cat VERSION 2>/dev/null || echo 0.0.0)

SRCS	:= $(wildcard src/*.c)
LIBOBJS	:= $(patsubst src/%.c,$(BUILD)/%.o,$(filter-out src/main.c,$(SRCS)))
MAINOBJ	:= $(BUILD)/main.o
TSRCS	:= $(wildcard test/check_*.c)
TOBJS	:= $(patsubst test/%.c,$(BUILD)/test/%.o,$(TSRCS))

BIN	:= $(BUILD)/mqttguard
TBIN	:= $(BUILD)/check_mqttguard

.PHONY: all test unit integration asan test-asan fuzz fuzz-replay bench demo \
	install clean certs

all: $(BIN)

$(BIN): $(MAINOBJ) $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(ALL_CPPFLAGS) -DMQTTGUARD_VERSION='"$(VERSION)"' $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/test/%.o: test/%.c | $(BUILD)/test
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) $(MOSQ_CFLAGS) $(ALL_CFLAGS) \
	    -MMD -MP -c -o $@ $<

$(TBIN): $(TOBJS) $(LIBOBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) \
	    $(MOSQ_LIBS)

$(BUILD) $(BUILD)/test:
	mkdir -p $@

# Unit tests run from the top directory: test/data paths are relative to it.
# Git keeps no file modes but 0644/0755: secret fixtures get 0600 here.
unit: $(TBIN) certs/server.crt
	chmod 600 test/data/*.passwd test/data/*.secret
	$(TBIN)

integration: $(BIN)
	MQTTGUARD_BIN=$(abspath $(BIN)) /usr/bin/python3 -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning test/integration

test: unit fuzz-replay integration

asan:
	$(MAKE) BUILD=build/asan WERROR=$(WERROR) \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all build/asan/check_mqttguard

test-asan:
	$(MAKE) BUILD=build/asan WERROR=$(WERROR) \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" test

# libFuzzer needs clang.  fuzz-replay runs the corpus once through the
# sanitizer-instrumented decoder; fuzz runs a campaign of FUZZTIME seconds.
FUZZ_CFLAGS := -std=c11 -g -O1 -Iinclude -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
build/fuzz/fuzz_codec: test/fuzz/fuzz_codec.c src/codec.c src/topic.c \
    include/mqttguard/codec.h include/mqttguard/topic.h
	mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ test/fuzz/fuzz_codec.c src/codec.c \
	    src/topic.c

fuzz-replay: build/fuzz/fuzz_codec
	build/fuzz/fuzz_codec -runs=0 test/corpus/codec

fuzz: build/fuzz/fuzz_codec
	mkdir -p build/fuzz/corpus
	build/fuzz/fuzz_codec -max_total_time=$(FUZZTIME) -max_len=4096 \
	    build/fuzz/corpus test/corpus/codec

$(BUILD)/bench_codec: test/bench_codec.c src/codec.c src/topic.c \
    include/mqttguard/codec.h include/mqttguard/topic.h | $(BUILD)
	$(CC) -std=c11 -O2 -g -Iinclude -D_GNU_SOURCE -o $@ test/bench_codec.c \
	    src/codec.c src/topic.c

BENCH_ACL_SRCS := src/acl.c src/topic.c src/util.c src/hmap.c src/siphash.c
$(BUILD)/bench_acl: test/bench_acl.c $(BENCH_ACL_SRCS) include/mqttguard/*.h \
    | $(BUILD)
	$(CC) -std=c11 -O2 -g -Iinclude -D_GNU_SOURCE -o $@ test/bench_acl.c \
	    $(BENCH_ACL_SRCS)

bench: $(BIN)
	scripts/bench.sh

demo: $(BIN)
	scripts/demo.sh

certs certs/server.crt:
	scripts/gen-certs.sh certs

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mqttguard

clean:
	rm -rf build

-include $(wildcard $(BUILD)/*.d $(BUILD)/test/*.d)
