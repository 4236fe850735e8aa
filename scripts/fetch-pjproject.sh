#!/usr/bin/env bash
# Finds pjproject 2.17 source and prints its directory on stdout (messages go to stderr).
#
# Order:
#   1. $PJPROJECT_DIR, if set;
#   2. the pjproject/ submodule, if it is populated;
#   3. Debian's `asterisk` source package (suite sid), which carries pjproject as a component
#      tarball. It is fetched with a private apt configuration from the mirror this system already
#      uses, and extracted into a cache outside the tracked tree ($PJPROJECT_CACHE, default
#      <repo>/target/pjproject-src).
# The version in version.mak must be the pinned one, or nothing is used.
# Idempotent: a populated cache is reused without any download.
set -euo pipefail

PIN_MAJOR=2
PIN_MINOR=17
PIN="${PIN_MAJOR}.${PIN_MINOR}"
repo=$(cd "$(dirname "$0")/.." && pwd)
cache="${PJPROJECT_CACHE:-$repo/target/pjproject-src}"

say() { echo "fetch-pjproject: $*" >&2; }

# Prints the version in <dir>/version.mak as MAJOR.MINOR[.REV][SUFFIX].
version_of() {
  local mak="$1/version.mak"
  [ -f "$mak" ] || { echo "none (no version.mak)"; return; }
  local maj min rev suf
  maj=$(sed -n 's/^export PJ_VERSION_MAJOR *:= *//p' "$mak")
  min=$(sed -n 's/^export PJ_VERSION_MINOR *:= *//p' "$mak")
  rev=$(sed -n 's/^export PJ_VERSION_REV *:= *//p' "$mak")
  suf=$(sed -n 's/^export PJ_VERSION_SUFFIX *:= *//p' "$mak")
  echo "${maj}.${min}${rev:+.$rev}${suf}"
}

accept() {
  local dir="$1" what="$2" v
  v=$(version_of "$dir")
  if [ "$v" != "$PIN" ]; then
    say "$what at $dir holds pjproject $v, but this project is pinned to $PIN; not using it."
    return 1
  fi
  say "using pjproject $v from $what: $dir"
  echo "$dir"
}

if [ -n "${PJPROJECT_DIR:-}" ]; then
  accept "$PJPROJECT_DIR" "PJPROJECT_DIR" && exit 0
  exit 1
fi

if [ -f "$repo/pjproject/version.mak" ]; then
  accept "$repo/pjproject" "the pjproject submodule" && exit 0
  exit 1
fi

if [ -f "$cache/current/version.mak" ]; then
  accept "$cache/current" "the cache" && exit 0
fi

say "the pjproject submodule is empty (GitHub unreachable?); trying Debian's asterisk source package"
command -v apt-get >/dev/null || { say "apt-get not found: set PJPROJECT_DIR to a pjproject $PIN tree, or run 'git submodule update --init'"; exit 1; }

# The mirror the system already uses (deb822 sources first, then the classic list).
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { say "could not read a Debian mirror from /etc/apt; set PJPROJECT_DIR instead"; exit 1; }

work="$cache/apt"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/download"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$work/sources.list" <<SRC
deb-src [signed-by=$keyring] $mirror sid main
SRC
aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
         -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
say "apt-get update (sid sources, private lists under $work)"
apt-get "${aptopts[@]}" update -qq >&2 || { say "apt-get update failed for sid sources on $mirror"; exit 1; }
(cd "$work/download" && rm -f ./* && apt-get "${aptopts[@]}" source --download-only -qq asterisk >&2) \
  || { say "apt-get source asterisk failed"; exit 1; }
tarball=$(ls "$work/download"/asterisk_*.orig-Xpjproject.tar.* 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || { say "the asterisk source package has no Xpjproject component tarball any more"; exit 1; }
say "found $(basename "$tarball") ($(stat -c %s "$tarball") bytes, sha256 $(sha256sum "$tarball" | cut -d' ' -f1))"

tmp="$cache/extract.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
tar -xf "$tarball" -C "$tmp"
top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)
v=$(version_of "$top")
if [ "$v" != "$PIN" ]; then
  say "$(basename "$tarball") carries pjproject $v, not the pinned $PIN; refusing it. Set PJPROJECT_DIR to a $PIN tree."
  rm -rf "$tmp"; exit 1
fi
rm -rf "$cache/current"
mv "$top" "$cache/current"
rm -rf "$tmp" "$work/download"
accept "$cache/current" "Debian's $(basename "$tarball")"
