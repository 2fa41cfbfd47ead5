#!/usr/bin/env bash
# The C API under ThreadSanitizer: builds libMailslotWin32.so with --sanitize=thread (in .build-tsan),
# compiles the multi-threaded fixtures with clang -fsanitize=thread against it, and runs them. Any
# ThreadSanitizer report fails the run (halt_on_error), as does a failed check.
#   scripts/sanitize-c-api.sh            (CI runs it after the test suite)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-tsan
swift build --sanitize=thread --scratch-path "$scratch" --product MailslotWin32
lib="$PWD/$scratch/debug"
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for program in threads conformance inherit; do
    # The sanitizer's runtime intercepts libdispatch, which the Swift runtime brings: link it explicitly.
    clang -std=c11 -g -fsanitize=thread -Wall -Wextra -Werror -I Sources/CMailslotWin32/include \
        "Tests/MailslotWin32Tests/Fixtures/$program.c" -L"$lib" -lMailslotWin32 -L"$runtime" -ldispatch -lBlocksRuntime \
        -Wl,-rpath,"$lib" -Wl,-rpath,"$runtime" -lpthread -o "$out/$program"
    if TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/$program" "\\\\.\\mailslot\\tsan-$program-$$" > "$out/$program.log" 2>&1; then
        echo "ThreadSanitizer: $program clean ($(tail -1 "$out/$program.log"))"
    else
        echo "ThreadSanitizer: $program FAILED"
        cat "$out/$program.log"
        status=1
    fi
done
exit $status
