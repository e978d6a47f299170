#!/usr/bin/env bash
# Reproduce the paper's experiments: experiments/run.sh NAME|all [--quick] [--out DIR]
# Each experiment writes DIR/NAME.csv and its plots (default DIR:
# experiments/out) and prints its findings beside the paper's numbers; a
# progress line runs on stderr. --quick runs the small versions CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: experiments/run.sh NAME...|all [--quick] [--out DIR]" >&2; exit 2; }
mkdir -p .bin
go build -o .bin/cameo ./cmd/cameo
exec .bin/cameo experiment "$@"
