#!/usr/bin/env sh
# Builds the benchmarks in release mode and runs one of them, or all; each prints its figures
# with the baseline measured in the same run. Arguments after the name go to the benchmark:
#   bench/run.sh p4 --users 100000 --seconds 3
#   bench/run.sh p6 --database-url postgres://postgres@127.0.0.1:5432/postgres
#   bench/run.sh all
# CARGO_TARGET_DIR is honoured (the default is the workspace's target/).
set -eu
cd "$(dirname "$0")/.."
which="${1:-all}"
[ $# -gt 0 ] && shift
cargo build --release -p rollcall-bench
bin="${CARGO_TARGET_DIR:-target}/release"
case "$which" in
  p4) exec "$bin/p4-user-list" "$@" ;;
  p5) exec "$bin/p5-paste" "$@" ;;
  p6) exec "$bin/p6-dispatch" "$@" ;;
  p7) exec "$bin/p7-bulk-update" "$@" ;;
  p8) exec "$bin/p8-invite-api" "$@" ;;
  all)
    for b in p4-user-list p5-paste p6-dispatch p7-bulk-update p8-invite-api; do "$bin/$b" "$@"; done ;;
  *) echo "unknown benchmark “$which”: use p4, p5, p6, p7, p8 or all" >&2; exit 2 ;;
esac
