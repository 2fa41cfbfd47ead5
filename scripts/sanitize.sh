#!/usr/bin/env bash
# The test suite under a sanitizer: scripts/sanitize.sh thread|address
#
# Builds everything with `--sanitize=KIND` in a folder of its own (.build-tsan, .build-asan) and runs the
# tests there; the C API's test programs are then built by the toolchain's clang with the same sanitizer
# (Tests/MailslotWin32Tests find it in the library). Any report fails the run: ThreadSanitizer's exit code
# at the end of a process with reports, AddressSanitizer's at the first error, LeakSanitizer's at exit.
# Leaks inside Foundation and XCTest themselves (the runtime's Process, Pipe and file reading; the test
# harness's bookkeeping) are suppressed by library in scripts/lsan.supp, and one out-of-bounds read in
# Foundation's Process.run() in scripts/asan.supp; nothing of this package is.
#
# The network-namespace suite (Samba's nmbd, tshark) is left out: it waits on peers' timers, which a
# sanitizer's 2-5x slowdown turns into spurious timeouts; the gateway and daemon code it drives runs
# sanitized in the Gateway and mailslotd suites.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in
    thread) scratch=.build-tsan; export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}" ;;
    address) scratch=.build-asan
        export ASAN_OPTIONS="detect_leaks=1 suppressions=$PWD/scripts/asan.supp ${ASAN_OPTIONS:-}"
        export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp print_suppressions=0 ${LSAN_OPTIONS:-}" ;;
    *) echo "usage: scripts/sanitize.sh thread|address" >&2; exit 2 ;;
esac
# Tests that measure a process's resident memory read this: a sanitizer's shadow memory and quarantine make
# those figures meaningless, so they check everything but the figure (and say so).
export MAILSLOT_SANITIZER="$kind"
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" --skip MailslotNetworkTests
