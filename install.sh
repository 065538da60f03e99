#!/bin/sh
# Installs the `sessions` binary:  curl -fsSL <url>/install.sh | sh
#
# Environment:
#   SESSIONS_VERSION      release to install, e.g. 0.2.0 (default: the latest)
#   SESSIONS_INSTALL_DIR  where to put `sessions` (default: ~/.local/bin,
#                         /usr/local/bin when run as root)
#   SESSIONS_BASE_URL     releases URL of a mirror with the same layout:
#                         <base>/latest/download/FILE, <base>/download/vVERSION/FILE
#   SESSIONS_OS, SESSIONS_ARCH
#                         override `uname -s` / `uname -m` (test hooks; also a
#                         way to pick an archive by hand)
#
# It downloads SHA256SUMS and the archive for this OS and CPU, checks the
# archive's SHA256 and only then installs. On any failure it installs nothing.
# Everything runs inside main(), so a truncated download of this script does
# nothing.

DEFAULT_BASE_URL="https://github.com/sessions-cli/sessions/releases"

say() {
  printf '%s\n' "$*"
}

fail() {
  printf 'sessions install: %s\n' "$*" >&2
  exit 1
}

# OS and CPU (uname spellings) -> target triple, or fail naming what is unsupported.
detect_target() {
  os=${SESSIONS_OS:-$(uname -s)}
  cpu=${SESSIONS_ARCH:-$(uname -m)}
  case $cpu in
    x86_64 | amd64) cpu=x86_64 ;;
    aarch64 | arm64) cpu=aarch64 ;;
    *) fail "unsupported CPU '$cpu' (releases exist for x86_64 and aarch64); nothing installed" ;;
  esac
  case $os in
    Linux) target=$cpu-unknown-linux-gnu ;;
    Darwin) target=$cpu-apple-darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      fail "unsupported OS '$os' for this script (on Windows use scoop or the .zip from the release); nothing installed" ;;
    *) fail "unsupported OS '$os' (releases exist for Linux, macOS and Windows); nothing installed" ;;
  esac
}

# download URL FILE: with curl, else wget.
download() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    fail "neither curl nor wget is installed (install one and retry); nothing installed"
  fi
}

# Sets sha256_tool to the command that prints "HASH  FILE", or fails.
find_sha256_tool() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256_tool="sha256sum"
  elif command -v shasum >/dev/null 2>&1; then
    sha256_tool="shasum -a 256"
  else
    fail "neither sha256sum nor shasum is installed, so the download cannot be verified; nothing installed"
  fi
}

main() {
  set -eu
  detect_target
  find_sha256_tool
  base=${SESSIONS_BASE_URL:-$DEFAULT_BASE_URL}
  base=${base%/}
  version=${SESSIONS_VERSION:-}
  version=${version#v}
  if [ -n "$version" ]; then
    release_url=$base/download/v$version
  else
    release_url=$base/latest/download
  fi

  tmp=$(mktemp -d 2>/dev/null || mktemp -d -t sessions-install)
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 1' INT TERM

  download "$release_url/SHA256SUMS" "$tmp/SHA256SUMS" ||
    fail "cannot download $release_url/SHA256SUMS (is the version or SESSIONS_BASE_URL right?); nothing installed"

  # The archive is the one SHA256SUMS lists for this target (for the latest
  # release that is also how the version becomes known).
  archive=
  expected=
  while read -r hash name; do
    name=${name#\*}
    if [ -n "$version" ]; then
      [ "$name" = "sessions-$version-$target.tar.gz" ] || continue
    else
      case $name in sessions-*-"$target".tar.gz) ;; *) continue ;; esac
    fi
    archive=$name
    expected=$hash
  done <"$tmp/SHA256SUMS"
  [ -n "$archive" ] ||
    fail "the release at $release_url has no archive for $target; nothing installed"
  installed_version=${archive#sessions-}
  installed_version=${installed_version%-"$target".tar.gz}

  download "$release_url/$archive" "$tmp/$archive" ||
    fail "cannot download $release_url/$archive; nothing installed"
  # $sha256_tool is one of two fixed commands; word splitting is intended.
  # shellcheck disable=SC2086
  actual=$($sha256_tool "$tmp/$archive")
  actual=${actual%% *}
  [ "$actual" = "$expected" ] ||
    fail "checksum mismatch for $archive (expected $expected, got $actual); nothing installed"

  mkdir "$tmp/unpacked"
  tar -xzf "$tmp/$archive" -C "$tmp/unpacked" sessions ||
    fail "cannot unpack $archive; nothing installed"

  if [ -n "${SESSIONS_INSTALL_DIR:-}" ]; then
    dir=$SESSIONS_INSTALL_DIR
  elif [ "$(id -u)" = 0 ]; then
    dir=/usr/local/bin
  else
    dir=$HOME/.local/bin
  fi
  mkdir -p "$dir" || fail "cannot create $dir; nothing installed"
  # Copy beside the old binary, then rename over it: a running sessions keeps working.
  cp "$tmp/unpacked/sessions" "$dir/.sessions.new.$$" &&
    chmod 755 "$dir/.sessions.new.$$" &&
    mv -f "$dir/.sessions.new.$$" "$dir/sessions" || {
    rm -f "$dir/.sessions.new.$$"
    fail "cannot write $dir/sessions; nothing installed"
  }

  say "installed sessions $installed_version to $dir/sessions"
  case ":${PATH:-}:" in
    *":$dir:"*) ;;
    *)
      say "$dir is not on your PATH; add it with:"
      say "  echo 'export PATH=\"$dir:\$PATH\"' >> ~/.profile   # sh, bash, zsh: then log in again"
      say "  fish_add_path $dir                                 # fish"
      ;;
  esac
}

main "$@"
