# Sourced by scripts/sessions and scripts/test (bash). Finds Deno 2.9, installing
# it from the npm registry into .tools/ when missing, and installs Debian packages
# the caller needs when running as root or with password-less sudo.

DENO_VERSION=2.9.6
PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'sessions: %s\n' "$*" >&2; }

# Sets DENO to a Deno 2.9 executable.
ensure_deno() {
  if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q '^deno 2\.9\.'; then
    DENO=$(command -v deno)
    return
  fi
  DENO="$PROJECT_ROOT/.tools/node_modules/.bin/deno"
  if [ -x "$DENO" ] && "$DENO" --version 2>/dev/null | grep -q "^deno $DENO_VERSION"; then
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "Deno $DENO_VERSION is installed from the npm registry, and npm is missing: install Node.js (apt-get install nodejs npm), then run this again."
    exit 1
  fi
  say "installing Deno $DENO_VERSION into .tools/ (npm registry)…"
  npm install --prefix "$PROJECT_ROOT/.tools" --no-save --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >&2 || {
    say "npm could not install deno@$DENO_VERSION (see above)."
    exit 1
  }
}

# ensure_packages COMMAND:PACKAGE …: installs the packages whose command is missing.
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo"
    else
      say "missing: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
      exit 1
    fi
  fi
  say "installing ${missing[*]} with apt-get…"
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2 || {
    say "apt-get could not install ${missing[*]} (see above)."
    exit 1
  }
}
