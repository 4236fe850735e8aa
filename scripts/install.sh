#!/usr/bin/env bash
# Installs microsip like a Linux tool: the release binary, its man page, bash/zsh/fish
# completions, the systemd units (system and user), the sounds, and the sip:/sips:/tel:/callto:
# link handler. Idempotent; --uninstall removes what it installed. No MicroSIP.ini is installed:
# the phone's first run creates one.
#
# usage: scripts/install.sh [--prefix DIR] [--user] [--binary FILE] [--uninstall]
#   --prefix DIR   where to install (default /usr/local; with --user, ~/.local)
#   --user         a per-user install: the user unit into ~/.config/systemd/user, the link
#                  handler registered for this user (xdg-mime defaults); no system unit
#   --binary FILE  install FILE instead of building the release binary (cargo build --release)
#   --uninstall    remove everything a previous install into the same place put there
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

prefix=""
user=0
binary=""
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --user) user=1; shift ;;
    --binary) binary=${2:?--binary needs a file}; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see scripts/install.sh --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$prefix" ]; then
  if [ "$user" = 1 ]; then prefix="$HOME/.local"; else prefix=/usr/local; fi
fi
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

bindir="$prefix/bin"
datadir="$prefix/share"
mandir="$datadir/man/man1"
sounddir="$datadir/microsip"
docdir="$datadir/doc/microsip"
manifest="$sounddir/installed-files"
if [ "$user" = 1 ]; then
  user_unitdir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  system_unitdir=""
else
  user_unitdir="$prefix/lib/systemd/user"
  system_unitdir="$prefix/lib/systemd/system"
fi

# Removes the files a previous install listed (and the folders it left empty).
remove_installed() {
  [ -f "$manifest" ] || return 0
  while IFS= read -r f; do
    [ -n "$f" ] && rm -f "$f"
  done < "$manifest"
  rm -f "$manifest"
  while IFS= read -r f; do
    rmdir -p --ignore-fail-on-non-empty "$(dirname "$f")" 2>/dev/null || true
  done < <(printf '%s\n' "$bindir/x" "$mandir/x" "$sounddir/x" "$docdir/x" \
    "$datadir/applications/x" "$datadir/bash-completion/completions/x" \
    "$datadir/zsh/site-functions/x" "$datadir/fish/vendor_completions.d/x" \
    "$user_unitdir/x" ${system_unitdir:+"$system_unitdir/x"})
}

if [ "$uninstall" = 1 ]; then
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing installed in $prefix (no $manifest)"
    exit 0
  fi
  remove_installed
  echo "install.sh: microsip removed from $prefix"
  exit 0
fi

if [ -z "$binary" ]; then
  source "$repo/scripts/setup.sh"
  (cd "$repo" && cargo build --release --bin microsip)
  binary="$repo/target/release/microsip"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 2; }

# A fresh install replaces the previous one completely.
remove_installed
installed=()
put() { # put MODE SOURCE DEST
  install -D -m "$1" "$2" "$3"
  installed+=("$3")
}
gen() { # gen DEST COMMAND...: COMMAND's output into DEST
  local dest=$1
  shift
  mkdir -p "$(dirname "$dest")"
  "$@" > "$dest"
  chmod 0644 "$dest"
  installed+=("$dest")
}

# Stripped: the release profile keeps line tables for profiling (64 MB); installed, 9 MB.
install -D -s -m 0755 "$binary" "$bindir/microsip"
installed+=("$bindir/microsip")
exe="$bindir/microsip"
gen "$mandir/microsip.1" "$exe" --man
gen "$datadir/bash-completion/completions/microsip" "$exe" --completions bash
gen "$datadir/zsh/site-functions/_microsip" "$exe" --completions zsh
gen "$datadir/fish/vendor_completions.d/microsip.fish" "$exe" --completions fish
for s in "$repo"/sounds/*.wav; do
  put 0644 "$s" "$sounddir/$(basename "$s")"
done
put 0644 "$repo/LICENSE" "$docdir/LICENSE"
put 0644 "$repo/MicroSIP.ini.example" "$docdir/MicroSIP.ini.example"
gen "$user_unitdir/microsip.service" \
  sed "s|@BINDIR@|$bindir|g" "$repo/dist/systemd/user/microsip.service"
if [ -n "$system_unitdir" ]; then
  gen "$system_unitdir/microsip.service" \
    sed "s|@BINDIR@|$bindir|g" "$repo/dist/systemd/system/microsip.service"
fi

# The link handler: the phone writes its desktop file (Exec = the installed binary). A user
# install also makes it this user's default for the four schemes; a system-wide one only puts
# the file where desktops find it.
if [ "$user" = 1 ]; then
  "$exe" --register-uri-handler >/dev/null
  installed+=("${XDG_DATA_HOME:-$HOME/.local/share}/applications/microsip.desktop")
else
  scratch=$(mktemp -d)
  XDG_DATA_HOME="$datadir" XDG_CONFIG_HOME="$scratch" "$exe" --register-uri-handler >/dev/null
  rm -rf "$scratch"
  installed+=("$datadir/applications/microsip.desktop")
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$datadir/applications" 2>/dev/null || true
  fi
fi

mkdir -p "$sounddir"
printf '%s\n' "${installed[@]}" "$manifest" > "$manifest"
echo "install.sh: microsip installed in $prefix"
echo "  binary:   $exe"
echo "  manual:   man microsip (in $mandir)"
echo "  units:    $user_unitdir/microsip.service${system_unitdir:+, $system_unitdir/microsip.service}"
if [ "$user" = 1 ]; then
  echo "  start:    systemctl --user daemon-reload && systemctl --user enable --now microsip"
else
  echo "  start:    systemctl daemon-reload && systemctl enable --now microsip"
  case "$prefix" in
    /usr|/usr/local) ;;
    *) echo "  (systemd reads units from /etc/systemd/system: link them there to use them)" ;;
  esac
fi
if [ "$user" = 1 ]; then
  echo "  remove:   scripts/install.sh --user --prefix $prefix --uninstall"
else
  echo "  remove:   scripts/install.sh --prefix $prefix --uninstall"
fi
