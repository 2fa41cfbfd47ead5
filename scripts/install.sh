#!/usr/bin/env bash
# Builds Mailslot in release mode and installs it; or removes exactly what an install put in place.
#
#   scripts/install.sh [install]          build, then install under $DESTDIR$PREFIX
#   scripts/install.sh uninstall          remove what the install's manifest lists
#
#   PREFIX      where it goes (default /usr/local); DESTDIR  a staging root (default none)
#   SYSCONFDIR  where mailslot.conf goes (default /etc)
#   --from DIR     install already-built products from DIR (for example .build/debug) instead of building
#   --scratch DIR  the build folder for the release build (default .build)
#
# What it installs (under $DESTDIR$PREFIX unless said otherwise):
#   bin/mailslot, bin/mailslotd                       (the Swift runtime linked in statically)
#   lib/libMailslotWin32.so                           the Win32 C API
#   lib/mailslot-swift/*.so                           the Swift runtime libraries the C API needs
#   include/mailslot_win32.h                          its header
#   lib/pkgconfig/mailslot-win32.pc                   cc app.c $(pkg-config --cflags --libs mailslot-win32)
#   lib/systemd/system/mailslotd.service              the unit (systemctl enable --now mailslotd)
#   lib/systemd/system/mailslot-files.service         mailslots as files in /run/mailslot (root; libfuse3)
#   lib/sysusers.d/mailslot.conf                      the "mailslot" system user the unit runs as
#   share/man/man1/mailslot.1, man8/mailslotd.8       generated from the argument parser (generate-manual)
#   share/man/man3/mailslot_win32.3                   the C API
#   $DESTDIR$SYSCONFDIR/mailslot.conf                 commented settings, only if none exists there
#   share/mailslot/install-manifest.txt               every file above, for uninstall
# Uninstall removes exactly those files; mailslot.conf only if it is still as installed.
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
SYSCONFDIR=${SYSCONFDIR:-/etc}
root="$DESTDIR$PREFIX"
manifest="$root/share/mailslot/install-manifest.txt"
version=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/MailslotCore/MailslotVersion.swift)
version=${version:-0.0.0}

if [ "$action" = uninstall ]; then
    [ -f "$manifest" ] || { echo "install.sh: no install manifest at $manifest; nothing to remove" >&2; exit 1; }
    while IFS= read -r line; do
        case "$line" in
            "#config "*) # "#config SHA256 PATH": remove the configuration only if nobody changed it
                set -- $line
                if [ "$(sha256sum < "$DESTDIR$3" 2>/dev/null | cut -d' ' -f1)" = "$2" ]; then rm -f "$DESTDIR$3"
                else echo "keeping $DESTDIR$3: it was changed after the install"; fi ;;
            *) rm -f "$DESTDIR$line" ;;
        esac
    done < "$manifest"
    rm -f "$manifest"
    # Remove the folders the install made, if they are empty now.
    for dir in "$root/lib/mailslot-swift" "$root/share/mailslot" "$root/lib/pkgconfig" "$root/lib/systemd/system" \
               "$root/lib/systemd" "$root/lib/sysusers.d" "$root/share/man/man1" "$root/share/man/man3" "$root/share/man/man8" \
               "$root/share/man" "$root/include" "$root/lib" "$root/bin" "$root/share" "$DESTDIR$SYSCONFDIR"; do
        rmdir "$dir" 2>/dev/null || true
    done
    echo "removed Mailslot from $root"
    exit 0
fi

if [ -z "$from" ]; then
    # Executables carry the Swift runtime; the shared library finds its runtime next to it.
    swift build -c release --scratch-path "$scratch" --static-swift-stdlib -Xlinker '-rpath=$ORIGIN/mailslot-swift'
    swift build -c release --scratch-path "$scratch" --product generate-manual
    from="$scratch/release"
    manual="$from/generate-manual"
else
    # The manual generator of swift-argument-parser, built apart so that a running build is not disturbed.
    swift build --scratch-path .build-tools --product generate-manual >/dev/null
    manual=".build-tools/debug/generate-manual"
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pc="$work/mailslot-win32.pc"
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

sed -e "s|@BINDIR@|$PREFIX/bin|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" dist/systemd/mailslotd.service.in > "$work/mailslotd.service"
put 0644 "$work/mailslotd.service" lib/systemd/system/mailslotd.service
sed -e "s|@BINDIR@|$PREFIX/bin|g" dist/systemd/mailslot-files.service.in > "$work/mailslot-files.service"
put 0644 "$work/mailslot-files.service" lib/systemd/system/mailslot-files.service
put 0644 dist/systemd/mailslot.sysusers lib/sysusers.d/mailslot.conf

# Manual pages from the argument parser's own description of each tool, so that they never drift.
"$manual" "$from/mailslot" --section 1 -o "$work" >/dev/null
"$manual" "$from/mailslotd" --section 8 -o "$work" >/dev/null
put 0644 "$work/mailslot.1" share/man/man1/mailslot.1
put 0644 "$work/mailslotd.8" share/man/man8/mailslotd.8
put 0644 dist/man/mailslot_win32.3 share/man/man3/mailslot_win32.3

# The configuration file: never over an existing one.
conf="$DESTDIR$SYSCONFDIR/mailslot.conf"
if [ -e "$conf" ]; then
    echo "keeping the existing $conf (the commented defaults are in dist/mailslot.conf)"
else
    install -D -m 0644 dist/mailslot.conf "$conf"
    installed+=("#config $(sha256sum < "$conf" | cut -d' ' -f1) $SYSCONFDIR/mailslot.conf")
fi

mkdir -p "$(dirname "$manifest")"
printf '%s\n' "${installed[@]}" "$PREFIX/share/mailslot/install-manifest.txt" > "$manifest"
echo "installed Mailslot $version in $root (${#installed[@]} files; uninstall: PREFIX=$PREFIX${DESTDIR:+ DESTDIR=$DESTDIR} $0 uninstall)"
