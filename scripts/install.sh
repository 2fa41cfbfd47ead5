#!/usr/bin/env bash
# Builds Mailslot in release mode and installs it; or removes exactly what an install put in place.
#
#   scripts/install.sh [install]          build, then install under $DESTDIR$PREFIX
#   scripts/install.sh uninstall          remove what the install's manifest lists
#
#   PREFIX   where it goes (default /usr/local); DESTDIR  a staging root (default none)
#   --from DIR     install already-built products from DIR (for example .build/debug) instead of building
#   --scratch DIR  the build folder for the release build (default .build)
#
# What it installs:
#   bin/mailslot, bin/mailslotd                       (the Swift runtime linked in statically)
#   lib/libMailslotWin32.so                           the Win32 C API
#   lib/mailslot-swift/*.so                           the Swift runtime libraries the C API needs
#   include/mailslot_win32.h                          its header
#   lib/pkgconfig/mailslot-win32.pc                   cc app.c $(pkg-config --cflags --libs mailslot-win32)
#   share/mailslot/install-manifest.txt               every file above, for uninstall
set -euo pipefail
cd "$(dirname "$0")/.."

action=install
from=""
scratch=".build"
while [ $# -gt 0 ]; do
    case "$1" in
        install|uninstall) action=$1 ;;
        --from) from=$2; shift ;;
        --scratch) scratch=$2; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
root="$DESTDIR$PREFIX"
manifest="$root/share/mailslot/install-manifest.txt"
version=$(sed -n 's/^let version = "\(.*\)"$/\1/p' Sources/mailslot/Version.swift 2>/dev/null || true)
version=${version:-0.0.0}

if [ "$action" = uninstall ]; then
    [ -f "$manifest" ] || { echo "install.sh: no install manifest at $manifest; nothing to remove" >&2; exit 1; }
    while IFS= read -r file; do
        rm -f "$DESTDIR$file"
    done < "$manifest"
    rm -f "$manifest"
    # Remove the folders the install made, if they are empty now.
    for dir in "$root/lib/mailslot-swift" "$root/share/mailslot" "$root/lib/pkgconfig" "$root/include" "$root/lib" "$root/bin" "$root/share"; do
        rmdir "$dir" 2>/dev/null || true
    done
    echo "removed Mailslot from $root"
    exit 0
fi

if [ -z "$from" ]; then
    # Executables carry the Swift runtime; the shared library finds its runtime next to it.
    swift build -c release --scratch-path "$scratch" --static-swift-stdlib -Xlinker '-rpath=$ORIGIN/mailslot-swift'
    from="$scratch/release"
fi
for product in mailslot mailslotd libMailslotWin32.so; do
    [ -e "$from/$product" ] || { echo "install.sh: $from/$product is missing; build first (swift build)" >&2; exit 1; }
done

installed=()
put() { # put MODE SOURCE DEST
    install -D -m "$1" "$2" "$root/$3"
    installed+=("$PREFIX/$3")
}
put 0755 "$from/mailslot" bin/mailslot
put 0755 "$from/mailslotd" bin/mailslotd
put 0755 "$from/libMailslotWin32.so" lib/libMailslotWin32.so
put 0644 Sources/CMailslotWin32/include/mailslot_win32.h include/mailslot_win32.h

# The Swift runtime libraries the C API links against, wherever the toolchain keeps them.
while read -r lib path; do
    case "$path" in
        */lib/swift/linux/*) put 0644 "$path" "lib/mailslot-swift/$lib" ;;
    esac
done < <(ldd "$from/libMailslotWin32.so" | awk '$2 == "=>" { print $1, $3 }')

pc=$(mktemp)
trap 'rm -f "$pc"' EXIT
cat > "$pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: mailslot-win32
Description: The Win32 mailslot API (CreateMailslot, ReadFile, WriteFile, ...) on Linux
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lMailslotWin32
EOF
put 0644 "$pc" lib/pkgconfig/mailslot-win32.pc

mkdir -p "$(dirname "$manifest")"
printf '%s\n' "${installed[@]}" "$PREFIX/share/mailslot/install-manifest.txt" > "$manifest"
echo "installed Mailslot $version in $root (${#installed[@]} files; uninstall: PREFIX=$PREFIX${DESTDIR:+ DESTDIR=$DESTDIR} $0 uninstall)"
