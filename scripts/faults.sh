#!/usr/bin/env bash
# The fault matrix under load (tests/faults/faults.py) with the long windows:
# 20 s per fault and PostgreSQL stopped for 60 s. Arguments are passed on
# (e.g. --only pg-stop, --keep). Needs root for the spool's loop-mounted disk.
#
#   scripts/faults.sh [--window S] [--pg-stop S] [...]
#
# PRICING_ENGINE_BIN selects the binary (default build/engine/pricing-engine);
# the matrix runs a copy of it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PRICING_ENGINE_BIN=${PRICING_ENGINE_BIN:-$repo/build/engine/pricing-engine}
[ -x "$PRICING_ENGINE_BIN" ] || { echo "faults: no engine binary at $PRICING_ENGINE_BIN; run make build" >&2; exit 2; }
exec /usr/bin/python3 "$repo/tests/faults/faults.py" --window 20 --pg-stop 60 "$@"
