#!/usr/bin/env bash
# Fuzz the pure wire codec (Sources/MailslotCore/Wire) with libFuzzer + AddressSanitizer, or with
# --browser the browser protocol decoder and browse list (Sources/MailslotCore/Browser), or with --ring
# the server's reader of the per-writer rings (Sources/MailslotCore/Ring), racing writer included, or
# with --greeting the local protocol's greeting decoder (Sources/MailslotCore/LocalProtocol.swift).
#
# Usage: scripts/fuzz-codec.sh [--browser | --ring | --greeting] [SECONDS] [extra libFuzzer options...]
#   --browser fuzz Fuzz/DecodeBrowser.swift (seeds Fuzz/corpus-browser) instead of Fuzz/DecodeDatagram.swift
#   --ring    fuzz Fuzz/ReadRing.swift (seeds Fuzz/corpus-ring)
#   --greeting fuzz Fuzz/DecodeGreeting.swift (seeds Fuzz/corpus-greeting)
#   SECONDS   how long to fuzz (default 60), passed as -max_total_time
#   e.g.      scripts/fuzz-codec.sh 300 -jobs=2 -workers=2
#             scripts/fuzz-codec.sh --browser 120
#
# Paths are relative to the repository root; the script can be started from anywhere.
# Build products and the growing working corpus live in .build-fuzz/ (not committed):
#   .build-fuzz/fuzz-decode-datagram   the instrumented binary (--browser: fuzz-decode-browser)
#   .build-fuzz/corpus/                new inputs found by libFuzzer (read + written; --browser: corpus-browser/)
#   .build-fuzz/artifacts/             crash-*, leak-*, timeout-* reproducers (--browser: artifacts-browser/)
# The committed seed corpus Fuzz/corpus/ (Fuzz/corpus-browser/) is only read, never written.
#
# Reproduce a finding:   .build-fuzz/fuzz-decode-datagram .build-fuzz/artifacts/crash-<sha1>
# Add findings (or coverage-increasing inputs) to the committed corpus, minimised, with:
#   .build-fuzz/fuzz-decode-datagram -merge=1 Fuzz/corpus .build-fuzz/corpus
# (-merge=1 copies into the FIRST directory only the inputs that add coverage, so the committed
# corpus stays small.) Environment: SWIFTC (default: swiftc on PATH, else /opt/swift/usr/bin/swiftc).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=datagram
if [[ "${1:-}" == "--browser" ]]; then
    target=browser
    shift
elif [[ "${1:-}" == "--ring" ]]; then
    target=ring
    shift
elif [[ "${1:-}" == "--greeting" ]]; then
    target=greeting
    shift
fi
seconds="${1:-60}"
if [[ $# -gt 0 ]]; then
    shift
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [--browser | --ring | --greeting] [SECONDS] [libFuzzer options...]" >&2
    exit 2
fi

swiftc="${SWIFTC:-}"
if [[ -z "$swiftc" ]]; then
    if command -v swiftc >/dev/null 2>&1; then
        swiftc="$(command -v swiftc)"
    elif [[ -x /opt/swift/usr/bin/swiftc ]]; then
        swiftc=/opt/swift/usr/bin/swiftc
    else
        echo "error: swiftc not found (set SWIFTC)" >&2
        exit 1
    fi
fi

build_dir=.build-fuzz
if [[ "$target" == greeting ]]; then
    binary="$build_dir/fuzz-decode-greeting"
    work_corpus="$build_dir/corpus-greeting"
    artifacts="$build_dir/artifacts-greeting"
    entry=Fuzz/DecodeGreeting.swift
    seeds=Fuzz/corpus-greeting
elif [[ "$target" == ring ]]; then
    binary="$build_dir/fuzz-read-ring"
    work_corpus="$build_dir/corpus-ring"
    artifacts="$build_dir/artifacts-ring"
    entry=Fuzz/ReadRing.swift
    seeds=Fuzz/corpus-ring
elif [[ "$target" == browser ]]; then
    binary="$build_dir/fuzz-decode-browser"
    work_corpus="$build_dir/corpus-browser"
    artifacts="$build_dir/artifacts-browser"
    entry=Fuzz/DecodeBrowser.swift
    seeds=Fuzz/corpus-browser
else
    binary="$build_dir/fuzz-decode-datagram"
    work_corpus="$build_dir/corpus"
    artifacts="$build_dir/artifacts"
    entry=Fuzz/DecodeDatagram.swift
    seeds=Fuzz/corpus
fi
mkdir -p "$build_dir" "$work_corpus" "$artifacts"

# The codec describes the browser frames its datagrams carry, so both binaries take the Browser sources
# (and the IPv4 address type they use) too.
shopt -s nullglob
if [[ "$target" == greeting ]]; then
    sources=(Sources/MailslotCore/LocalProtocol.swift Sources/MailslotCore/WriterAccess.swift)
elif [[ "$target" == ring ]]; then
    sources=(Sources/MailslotCore/Ring/*.swift)
else
    sources=(Sources/MailslotCore/Wire/*.swift Sources/MailslotCore/Browser/*.swift Sources/MailslotCore/IPv4Address.swift)
fi
shopt -u nullglob
if [[ ${#sources[@]} -lt 1 ]]; then
    echo "error: no sources to fuzz under Sources/MailslotCore" >&2
    exit 1
fi

echo "building $binary from ${#sources[@]} codec and browser files + $entry" >&2
# The linker's "Cannot export local symbol" warnings are harmless; drop them to keep the log clean.
"$swiftc" -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g \
    -module-name MailslotWireFuzz -package-name mailslot \
    "${sources[@]}" "$entry" \
    -o "$binary" 2> >(grep -v "Cannot export local symbol" >&2)

echo "fuzzing for ${seconds}s (working corpus $work_corpus, seeds $seeds)" >&2
"$binary" \
    -max_total_time="$seconds" \
    -max_len=2048 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    "$@" \
    "$work_corpus" "$seeds"
