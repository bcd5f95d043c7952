#!/usr/bin/env sh
# Builds the benchmarks in release mode and runs one of them, or all; each prints its figures
# with the baseline measured in the same run. Arguments after the name go to the benchmark:
#   bench/run.sh p4 --users 100000 --seconds 3
#   bench/run.sh limits                  (the API rate limits' cost per request; --database-url)
#   bench/run.sh p6 --database-url postgres://postgres@127.0.0.1:5432/postgres
#   bench/run.sh p1 --runs 3            (p2: 1M rows, own process for its peak RSS; p3: PostgreSQL)
#   bench/run.sh p11 --runs 3 --seconds 5 --rate 1000
#   bench/run.sh p12 --users 10000 --runs 3
#   bench/run.sh p13 --users 100000 --decisions 10000
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
  limits) exec "$bin/p4-rate-limits" "$@" ;;
  p5) exec "$bin/p5-paste" "$@" ;;
  p6) exec "$bin/p6-dispatch" "$@" ;;
  p7) exec "$bin/p7-bulk-update" "$@" ;;
  p8) exec "$bin/p8-invite-api" "$@" ;;
  p10) exec "$bin/p10-scim-create" "$@" ;;
  p11) exec "$bin/p11-oidc-tokens" "$@" ;;
  p12) exec "$bin/p12-webhook-fanout" "$@" ;;
  p13) exec "$bin/p13-access-review" "$@" ;;
  p1) exec "$bin/p1-import" "$@" ;;
  p2) exec "$bin/p1-import" --p2 "$@" ;;
  p3)
    case " $* " in
      *" --database-url"*) ;;
      *) set -- --database-url "${ROLLCALL_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}" "$@" ;;
    esac
    exec "$bin/p1-import" --p3 "$@" ;;
  all)
    for b in p4-user-list p5-paste p6-dispatch p7-bulk-update p8-invite-api p10-scim-create p11-oidc-tokens p12-webhook-fanout p13-access-review; do "$bin/$b" "$@"; done
    # P1 (P3 when a --database-url is given), P2 in a process of its own, then P3.
    "$bin/p1-import" "$@"
    "$bin/p1-import" --p2 "$@"
    case " $* " in
      *" --database-url"*) ;;
      *) "$bin/p1-import" --p3 --database-url "${ROLLCALL_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}" "$@" ;;
    esac ;;
  *) echo "unknown benchmark “$which”: use p1, p2, p3, p4, limits, p5, p6, p7, p8, p10, p11, p12, p13 or all" >&2; exit 2 ;;
esac
