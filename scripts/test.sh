#!/bin/sh
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs what is missing (scripts/deps.sh --test),
#   2. builds with -Werror and runs the unit tests (Check), the fuzz corpus
#      replay, the integration tests against a real Mosquitto and a
#      valgrind memcheck run (make test), then a short soak (make soak,
#      SOAKTIME seconds, default 60),
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and
#      runs the same suite against that build,
#   4. runs each fuzz target briefly.
# Every process a test starts is stopped by the test; nothing binds outside
# 127.0.0.1.  FUZZTIME (seconds per target, default 20) sets the fuzz run's
# length.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (-Werror)"
make -s -j"$jobs" WERROR=1 all build/check_mqttguard
echo "== tests"
make -s WERROR=1 test
echo "== soak (${SOAKTIME:-60} s)"
make -s soak SOAKTIME="${SOAKTIME:-60}"
echo "== sanitizer build (ASan+UBSan) and tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
make -s -j"$jobs" WERROR=1 asan
make -s WERROR=1 test-asan
echo "== fuzz run, each target"
make -s fuzz FUZZTIME="${FUZZTIME:-20}"
echo "== all tests passed"
