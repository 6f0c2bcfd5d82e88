#!/usr/bin/env bash
# The Python venv of the tests that need packages Debian does not ship
# (schemathesis for tests/api/schema), built from the pinned list in
# tests/api/requirements-schema.txt with Debian's python3 and pip from PyPI.
#
#   scripts/pytools.sh                 builds the venv if missing; prints its python
#   scripts/pytools.sh exec ARGS...    builds it if missing, then runs its python with ARGS
#
# The venv lives under ${PRICING_CACHE:-~/.cache/pricing-engine}/pytools-$key,
# where key hashes the requirements file and the interpreter's version, so a
# fresh clone on the same machine reuses it and a changed pin builds a new one.
# A venv is used only once its build finished (the .complete marker); a killed
# build is removed and redone. Concurrent callers wait on one lock.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
reqs=$repo/tests/api/requirements-schema.txt
cache=${PRICING_CACHE:-$HOME/.cache/pricing-engine}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$( { cat "$reqs"; echo "python $pyver"; } | sha256sum | cut -c1-12)
venv=$cache/pytools-$key

log() { echo "pytools: $*" >&2; }

build() {
  rm -rf "$venv"
  log "building $venv (python $pyver; takes a minute)"
  if ! "$python" -m venv "$venv" >&2; then
    log "python3 -m venv failed; install python3-venv (scripts/install-deps.sh)"
    return 1
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --only-binary=:all: -r "$reqs" >&2
  "$venv/bin/python" -m pip check >&2
  touch "$venv/.complete"
}

if [ ! -e "$venv/.complete" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/pytools.lock"
  flock 9
  [ -e "$venv/.complete" ] || build
  exec 9>&-
fi

if [ "${1:-}" = exec ]; then
  shift
  exec "$venv/bin/python" "$@"
fi
echo "$venv/bin/python"
