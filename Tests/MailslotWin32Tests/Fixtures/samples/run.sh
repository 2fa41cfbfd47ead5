#!/bin/sh
# Builds the samples against the header and libMailslotWin32.so and runs them against each other.
# usage: run.sh [LIBDIR]   (default: .build/debug of the package). Exit 0 if every step behaved.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
lib=${1:-$root/.build/debug}
inc=$root/Sources/CMailslotWin32/include
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
link="-L$lib -lMailslotWin32 -Wl,-rpath,$lib"
warn="-Wall -Wextra -Werror -I $inc"
fail=0
step() { if [ "$1" = 0 ]; then echo "ok   $2"; else echo "FAIL $2"; fail=1; fi; }

cc -std=c11 $warn "$here/ms_server.c" $link -o "$out/ms_server"; step $? "build ms_server"
cc -std=c11 $warn "$here/ms_client.c" $link -o "$out/ms_client"; step $? "build ms_client"
cc -std=c11 $warn -DUNICODE "$here/ms_tchar.c" $link -o "$out/ms_tchar"; step $? "build ms_tchar"
g++ -std=c++17 $warn "$here/cxx_compile.cpp" $link -o "$out/cxx_compile"; step $? "build cxx_compile"
[ $fail = 0 ] || exit 1

name="\\\\.\\mailslot\\sample-test\\$$"
"$out/ms_client" "$name-none" hello > "$out/none.txt"; rc=$?
[ $rc = 1 ] && [ "$(cat "$out/none.txt")" = "error 2" ]; step $? "client without server: exit $rc, $(cat "$out/none.txt")"

"$out/ms_server" "$name" 3 > "$out/server.txt" & pid=$!
i=0; while [ $i -lt 100 ] && ! grep -q '^ready$' "$out/server.txt" 2>/dev/null; do sleep 0.05; i=$((i+1)); done
"$out/ms_client" "$name" "first message" "second" "third one" > "$out/client.txt"; rc=$?
printf 'written 13\nwritten 6\nwritten 9\n' | cmp -s - "$out/client.txt"; step $(( rc | $? )) "client: exit $rc"
wait $pid; rc=$?
printf 'ready\nmessage 1: first message\nmessage 2: second\nmessage 3: third one\n' | cmp -s - "$out/server.txt"
step $(( rc | $? )) "server: exit $rc"
[ $fail = 0 ] || { echo "--- server:"; cat "$out/server.txt"; echo "--- client:"; cat "$out/client.txt"; }

"$out/ms_tchar" "$name-tchar"; step $? "ms_tchar"
"$out/cxx_compile" "$name-cxx"; step $? "cxx_compile"
exit $fail
