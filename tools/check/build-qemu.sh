#!/bin/sh
# build-qemu.sh — build the qemu-user binaries cmodx-check needs, once.
#
# cmodx-check needs the TCG plugin API that reads guest registers (QEMU 9.0
# and later): DC/IC take their address in a register and raise no memory
# callback.  Debian bookworm ships qemu-user 7.2 (no register API) and newer
# Debian binaries are static, without plugin support, so we build qemu-user
# from Debian's own `qemu` source package, 10.0.x (bookworm-backports, or the
# newer stable release it was backported from), with one added line: the
# environment variable CMODX_QEMU_CTR_EL0 sets the CTR_EL0 the guest sees
# (see patch_ctr).  Build dependencies are installed with apt-get when root;
# otherwise the exact commands are printed and the script stops.
#
# The result is cached outside any build tree, keyed by the qemu version, the
# configure line and the patch:
#     ${CMODX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmodx}/qemu-<ver>-<hash>/
# A second run finds it and returns at once.  The last line printed on
# stdout is that directory (bin/qemu-aarch64, include/qemu-plugin.h, ...).
#
# Apt sources: the deb-src/backports entry it adds is derived from the
# machine's own configured Debian archive (deb822 *.sources or one-line
# sources.list); no archive address is written in this file.
#
# Usage: tools/check/build-qemu.sh [--rebuild] [--print-deps]
set -eu

SERIES=10.0                  # qemu upstream series we require (>= 9.0 works)
TARGETS=aarch64-linux-user,arm-linux-user,riscv64-linux-user
CONFIGURE_ARGS="--enable-plugins --disable-system --disable-tools --disable-docs \
--disable-install-blobs --target-list=$TARGETS"
CACHE=${CMODX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmodx}
SRC_LIST=/etc/apt/sources.list.d/cmodx-qemu-backports.sources
BUILD_DEPS="dpkg-dev xz-utils ninja-build pkg-config libglib2.0-dev zlib1g-dev \
python3-venv python3-pip python3-distlib python3-setuptools flex bison gcc make"
BPO_DEPS="meson python3-pycotap"
QEMU_SRC_SUITES="trixie trixie-updates"   # Debian releases whose qemu is 10.0.x

log() { printf '%s\n' "build-qemu: $*" >&2; }
die() { log "error: $*"; exit 1; }

REBUILD=0
for a in "$@"; do
    case $a in
    --rebuild) REBUILD=1 ;;
    --print-deps) echo "$BUILD_DEPS"; echo "$BPO_DEPS (from <codename>-backports)"; exit 0 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $a" ;;
    esac
done

# The one change made to Debian's source (see patch_ctr below); its version
# is part of the cache key, like the configure line.
PATCH_ID=ctr-el0-override-v1
confhash=$(printf '%s %s' "$CONFIGURE_ARGS" "$PATCH_ID" | sha256sum | cut -c1-12)

# Fast path: a finished build of the wanted series with this configure line.
find_cached() {
    # Newest version first.  (Cache paths hold no spaces or newlines.)
    # shellcheck disable=SC2012
    for d in $(ls -d "$CACHE"/qemu-"$SERIES".*-"$confhash" 2>/dev/null | sort -Vr); do
        [ -f "$d/.complete" ] && { echo "$d"; return 0; }
    done
    return 1
}
if [ "$REBUILD" = 0 ] && d=$(find_cached); then
    [ -t 2 ] && [ -z "${CMODX_QUIET:-}" ] && log "cached: $d"
    echo "$d"
    exit 0
fi

# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"

# Print "URI<TAB>SIGNED-BY" of the configured archive that carries $codename
# itself (not -security/-updates), from deb822 stanzas first, then one-line
# sources.list entries.
archive_of_machine() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v cn="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " cn " ") && uri != "" && !done) {
                    print uri "\t" signed; done = 1
                }
                types = ""; suites = ""; uri = ""; signed = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "enabled:" && tolower($2) == "no" { types = "" ; uri = ""; next }
            tolower($1) == "types:" { $1 = ""; types = substr($0, 2) }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { $1 = ""; suites = substr($0, 2) }
            tolower($1) == "signed-by:" { signed = $2 }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v cn="$codename" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == cn) { print $i "\t"; exit }
            }' "$f"
    done
}

# The apt sources entry this script adds, derived from the configured archive.
sources_text() {
    line=$(archive_of_machine | head -n 1)
    uri=$(printf '%s' "$line" | cut -f1)
    signed=$(printf '%s' "$line" | cut -f2)
    [ -n "$uri" ] || die "no configured Debian archive for '$codename' found in apt sources"
    # Backports gives meson and pycotap (binary) and qemu 10.0 (source); the
    # archive may have moved the backport's pool files on to the newer stable
    # release's 10.0.x, so its source index is listed too (source only: no
    # binary from it can be installed by accident).
    echo "# Added by cmodx tools/check/build-qemu.sh (qemu source, meson, pycotap)."
    echo "Types: deb deb-src"
    echo "URIs: $uri"
    echo "Suites: $codename-backports"
    echo "Components: main"
    [ -n "$signed" ] && echo "Signed-By: $signed"
    echo
    echo "Types: deb-src"
    echo "URIs: $uri"
    echo "Suites: $QEMU_SRC_SUITES"
    echo "Components: main"
    [ -n "$signed" ] && echo "Signed-By: $signed"
    return 0
}

ensure_sources() {
    tmp=$(mktemp)
    sources_text > "$tmp"
    if ! cmp -s "$tmp" "$SRC_LIST"; then
        log "adding deb-src/$codename-backports entries from the configured archive"
        mv "$tmp" "$SRC_LIST"
        chmod 644 "$SRC_LIST"
        apt-get update -qq >&2
    else
        rm -f "$tmp"
    fi
}

install_deps() {
    if [ "$(id -u)" != 0 ]; then
        log "not root: run these commands as root, then run this script again:"
        {
            echo "cat > $SRC_LIST <<'END'"
            sources_text
            echo "END"
            echo "apt-get update"
            echo "apt-get install -y --no-install-recommends $BUILD_DEPS"
            echo "apt-get install -y --no-install-recommends -t $codename-backports $BPO_DEPS"
        } >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086 # package lists
    apt-get install -y -q --no-install-recommends $BUILD_DEPS >&2
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends -t "$codename-backports" $BPO_DEPS >&2
}

deps_present() {
    for p in $BUILD_DEPS $BPO_DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || return 1
    done
    apt-cache showsrc qemu 2>/dev/null | grep -q "^Version: .*:$SERIES\." || return 1
}

if [ "$(id -u)" = 0 ]; then
    ensure_sources
fi
deps_present || install_deps

versions=$(apt-cache showsrc qemu | sed -n "s/^Version: \(.*:$SERIES\..*\)/\1/p" | sort -uVr)
[ -n "$versions" ] || die "no qemu $SERIES.x source package in the apt sources"
# Newest first; an index can list a version whose files the archive has
# already replaced, so fall back to the next one.
for version in $versions; do
    upstream=$(printf '%s' "$version" | sed 's/^[0-9]*://; s/[+~-].*//')
    dest="$CACHE/qemu-$upstream-$confhash"
    work="$CACHE/.build-$upstream-$confhash.$$"
    trap 'rm -rf "$work"' EXIT INT TERM
    rm -rf "$work"; mkdir -p "$work"
    log "fetching qemu source $version"
    if (cd "$work" && apt-get source -q --download-only "qemu=$version" >&2); then
        break
    fi
    log "qemu $version not downloadable, trying an older one"
    rm -rf "$work"; work=
done
[ -n "$work" ] || die "no qemu $SERIES.x source could be downloaded"
log "building qemu $version ($TARGETS) into $dest"
(cd "$work" && dpkg-source -x --no-check ./*.dsc src >&2)
# qemu-user clears CTR_EL0.DIC on every CPU model (it relies on IC IVAU to
# notice code written through a second mapping), so no model lets a program
# see DIC=1.  cmodx-check must run programs that take the DIC=1 path too, so
# we add one line: the environment variable CMODX_QEMU_CTR_EL0 (read by
# qemu at CPU realize, user mode only) replaces the CTR_EL0 value.  Without
# the variable qemu behaves exactly as Debian's build.
patch_ctr() {
    f="$work/src/target/arm/cpu.c"
    anchor='cpu->ctr = FIELD_DP64(cpu->ctr, CTR_EL0, DIC, 0);'
    grep -qF "$anchor" "$f" || die "cannot apply the CTR_EL0 patch: anchor line not found in $f"
    sed -i "s|^\( *\)cpu->ctr = FIELD_DP64(cpu->ctr, CTR_EL0, DIC, 0);|&\n\1if (getenv(\"CMODX_QEMU_CTR_EL0\")) {\n\1    cpu->ctr = strtoull(getenv(\"CMODX_QEMU_CTR_EL0\"), NULL, 0);\n\1}|" "$f"
    grep -q CMODX_QEMU_CTR_EL0 "$f" || die "CTR_EL0 patch did not apply"
}
patch_ctr
mkdir -p "$work/src/build"
# Debian's meson is a module of the system python, not of any other python3
# first in PATH (pyenv, venvs).  The configure line is split on purpose.
# shellcheck disable=SC2086
# Installed into a staging directory inside $work (DESTDIR; the prefix
# compiled in stays $dest) and renamed to $dest only when complete, so a
# failed or interrupted build never leaves a half cache entry.
stage="$work/stage"
(cd "$work/src/build" &&
    ../configure --python=/usr/bin/python3 --prefix="$dest" $CONFIGURE_ARGS >&2 &&
    ninja -j"$(nproc)" >&2 &&
    DESTDIR="$stage" ninja install >&2) || die "qemu build failed"
for b in "$stage$dest"/bin/qemu-*; do strip "$b" 2>/dev/null || true; done
[ -x "$stage$dest/bin/qemu-aarch64" ] || die "build produced no qemu-aarch64"
[ -f "$stage$dest/include/qemu-plugin.h" ] || die "build produced no qemu-plugin.h"
printf '%s\n%s\n' "$version" "$CONFIGURE_ARGS" > "$stage$dest/.complete"
rm -rf "$dest" # an incomplete entry from an older version of this script
mv "$stage$dest" "$dest"
log "done: $dest"
echo "$dest"
