#!/usr/bin/env bash
# Put the QuickFIX C++ example executor at $1 (default .venv/bin/qf-executor).
# Debian's libquickfix-doc ships it gzipped under examples/: executor/C++/executor.gz is a
# libtool wrapper script, executor/C++/.libs/executor.gz the real ELF binary. We unpack the
# ELF one and check that it finds libquickfix. Slim images tell dpkg not to unpack
# /usr/share/doc (path-exclude); then we take the file from the downloaded .deb instead.
# Never fails the build unless REQUIRE_INTEROP=1: without the executor interop tests skip.
set -euo pipefail

TARGET=${1:-.venv/bin/qf-executor}
REQUIRE_INTEROP=${REQUIRE_INTEROP:-0}
EXAMPLES=/usr/share/doc/libquickfix-doc/examples/executor/C++

say() { echo "qf-executor: $*" >&2; }

give_up() {
    say "$*"
    rm -f "$TARGET"
    if [ "$REQUIRE_INTEROP" = 1 ]; then
        exit 1
    fi
    say "the interop tests will be skipped"
    exit 0
}

is_elf() {
    [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]
}

libs_resolved() {
    local out
    out=$(ldd "$1" 2>&1) || return 1
    ! grep -q 'not found' <<<"$out" && grep -q 'libquickfix' <<<"$out"
}

if [ -x "$TARGET" ] && is_elf "$TARGET" && libs_resolved "$TARGET"; then
    exit 0
fi

mkdir -p "$(dirname "$TARGET")"
candidates=("$EXAMPLES/.libs/executor.gz" "$EXAMPLES/executor.gz")
if [ ! -f "$EXAMPLES/.libs/executor.gz" ] && command -v apt-get >/dev/null 2>&1; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    if (cd "$scratch" && apt-get download -q libquickfix-doc >/dev/null 2>&1) &&
        dpkg-deb -x "$scratch"/libquickfix-doc_*.deb "$scratch/root"; then
        candidates+=("$scratch/root$EXAMPLES/.libs/executor.gz" "$scratch/root$EXAMPLES/executor.gz")
    fi
fi
source_gz=""
for candidate in "${candidates[@]}"; do
    [ -f "$candidate" ] || continue
    gzip -dc "$candidate" >"$TARGET.tmp"
    if is_elf "$TARGET.tmp"; then
        source_gz=$candidate
        break
    fi
done
if [ -z "$source_gz" ]; then
    rm -f "$TARGET.tmp"
    give_up "no executor binary under $EXAMPLES (is Debian package libquickfix-doc installed?)"
fi
chmod +x "$TARGET.tmp"
mv "$TARGET.tmp" "$TARGET"

if ! libs_resolved "$TARGET"; then
    give_up "$TARGET does not find its libraries (is libquickfix17 installed?): $(ldd "$TARGET" 2>&1 | grep 'not found' | tr '\n' ' ')"
fi
# With no argument it prints its usage line; anything else means it cannot run here.
usage=$("$TARGET" 2>&1 || true)
if ! grep -q 'usage' <<<"$usage"; then
    give_up "$TARGET does not run"
fi
say "installed $TARGET (from ${source_gz##*/root})"
