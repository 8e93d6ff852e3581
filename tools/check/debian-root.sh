#!/bin/sh
# debian-root.sh — unpack Debian binary packages of a foreign architecture
# into a directory usable as qemu-user's -L root, without touching the
# machine's dpkg architectures or apt state.
#
#   tools/check/debian-root.sh ARCH SUITE DEST PACKAGE...
#
# ARCH is a Debian architecture (arm64, armhf, riscv64), SUITE a Debian
# release (bookworm; trixie for riscv64, which bookworm does not have).
# The packages and the libraries they depend on (Depends and Pre-Depends,
# recursively) are fetched with `apt-get download` through a private apt
# configuration (own lists, cache and an empty dpkg status) whose sources
# are the machine's own Debian archive, from /etc/apt: no archive address
# is written here.  Lists are refreshed when older than a day.  Results
# are cached under ${CMODX_CACHE:-~/.cache/cmodx}/debian/.
# Prints DEST on success.
set -eu
[ $# -ge 4 ] || { echo "usage: $0 ARCH SUITE DEST PACKAGE..." >&2; exit 2; }
arch=$1 suite=$2 dest=$3
shift 3
CACHE=${CMODX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cmodx}
state=$CACHE/debian/apt-$arch-$suite
die() { echo "debian-root: $*" >&2; exit 1; }

# The machine's Debian archive (URI and keyring) and security archive,
# from deb822 sources, then one-line lists.
archives() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && uri != "") print uri "\t" signed
                types = ""; uri = ""; signed = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "signed-by:" { signed = $2 }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i "\t" }' "$f"
    done
}
main=$(archives | awk -F'\t' '$1 ~ /debian\/?$/ && $1 !~ /security/ { print; exit }')
sec=$(archives | awk -F'\t' '$1 ~ /debian-security\/?$/ { print; exit }')
[ -n "$main" ] || die "no Debian archive in the machine's apt sources"
key=${main#*	}
[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs" "$dest"
[ -f "$state/status" ] || : > "$state/status"
{
    printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$key" "${main%%	*}" "$suite"
    printf 'deb [arch=%s signed-by=%s] %s %s-updates main\n' "$arch" "$key" "${main%%	*}" "$suite"
    if [ -n "$sec" ]; then
        printf 'deb [arch=%s signed-by=%s] %s %s-security main\n' "$arch" "$key" "${sec%%	*}" "$suite"
    fi
} > "$state/sources.list"
apt_() {
    apt-get -q -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State="$state" -o Dir::State::status="$state/status" -o Dir::Cache="$state/cache" \
        -o APT::Architecture="$arch" -o APT::Architectures="$arch" -o Debug::NoLocking=1 \
        -o APT::Sandbox::User=root "$@"
}
apt_cache() {
    apt-cache -o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State="$state" -o Dir::State::status="$state/status" -o Dir::Cache="$state/cache" \
        -o APT::Architecture="$arch" -o APT::Architectures="$arch" "$@"
}
if [ -z "$(find "$state/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -n 1)" ]; then
    # A suite without -updates or -security lists is fine: the release
    # itself must be there.
    apt_ update >&2 || true
    [ -n "$(find "$state/lists" -name "*_${suite}_main_binary-${arch}_Packages*" 2>/dev/null)" ] ||
        die "apt-get update for $arch $suite failed"
fi
# Dependency closure (libraries only: Depends and Pre-Depends).
pkgs=$(apt_cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$@" 2>/dev/null |
    awk '/^[a-z0-9]/ { print $1 }' | sed 's/:.*//' | sort -u |
    grep -Ev '^(debconf|perl-base|dpkg|tar|coreutils|bash|base-files|debianutils|install-info)$' || true)
[ -n "$pkgs" ] || die "cannot resolve $*"
# shellcheck disable=SC2086 # a package list
(cd "$state/debs" && apt_ download $pkgs >&2) || die "apt-get download failed"
stamp=$dest/.cmodx-packages
want=$(echo $pkgs)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    for p in $pkgs; do
        deb=$(ls -t "$state/debs/${p}_"*"_$arch.deb" "$state/debs/${p}_"*"_all.deb" 2>/dev/null | head -n 1)
        [ -n "$deb" ] || die "no .deb for $p"
        dpkg-deb -x "$deb" "$dest"
    done
    echo "$want" > "$stamp"
fi
# Merged /usr (trixie ships the loader only under usr/lib; the /lib link
# comes from base-files, which is not unpacked).
for d in lib lib64 bin sbin; do
    if [ -d "$dest/usr/$d" ] && [ ! -e "$dest/$d" ]; then
        ln -s "usr/$d" "$dest/$d"
    fi
done
echo "$dest"
