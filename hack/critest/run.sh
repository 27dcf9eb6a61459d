#!/usr/bin/env bash
# Runs the CRI validation suite against a throw-away ucri: CRITEST=/path/to/critest hack/critest/run.sh [-- flags].
# critest itself is not part of this repository; build it elsewhere and give its path.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${CRITEST:-}" ]]; then
  echo "critest: set CRITEST=/path/to/critest" >&2
  exit 2
fi
exec "${NODE:-node}" dist/hack/critest/main.js --critest "$CRITEST" "$@"
