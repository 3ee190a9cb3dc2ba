#!/bin/sh
# Runs the suite in its lanes: SQLite, PostgreSQL, browser.
# PORTAL_REQUIRE_ALL_LANES=1 (set by .ci/run) turns a lane that cannot run into a failure.
set -u
PY=${PY:-.venv/bin/python}
PG_URL=${PORTAL_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REQUIRE=${PORTAL_REQUIRE_ALL_LANES:-0}
status=0

lane() {
  name=$1; shift
  echo "=== lane: $name ==="
  if ! "$@"; then
    echo "=== lane $name FAILED ==="
    status=1
  fi
}

skip() {
  if [ "$REQUIRE" = "1" ]; then
    echo "=== lane $1 cannot run: $2 (required in CI) ==="
    status=1
  else
    echo "=== lane $1 skipped: $2 ==="
  fi
}

pg_reachable() {
  "$PY" - "$PG_URL" <<'PYEOF'
import asyncio, sys
import asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=3)
    await conn.close()
try:
    asyncio.run(main())
except Exception as exc:
    print(f"PostgreSQL not reachable: {exc}")
    sys.exit(1)
PYEOF
}

run_sqlite() { env PORTAL_TEST_DB=sqlite "$PY" -m pytest -q -m "not browser" tests; }
run_postgresql() { env PORTAL_TEST_DB=postgres PORTAL_TEST_PG_URL="$PG_URL" "$PY" -m pytest -q -m "not browser" tests; }
run_browser() { env PORTAL_TEST_DB=sqlite "$PY" -m pytest -q -m browser tests/browser; }

have_pg=0
pg_reachable && have_pg=1
have_browser=0
command -v chromium >/dev/null 2>&1 && command -v java >/dev/null 2>&1 && have_browser=1

if [ "${PORTAL_PARALLEL_LANES:-1}" = "1" ] && [ "$have_pg" = "1" ]; then
  # The lanes share nothing (own temp files and template databases, no fixed ports), so the
  # PostgreSQL lane runs beside the SQLite lane and then the browser lane: two streams for two
  # CPUs, about half the wall time. PORTAL_PARALLEL_LANES=0 runs them one after the other.
  logs=$(mktemp -d)
  echo "=== lanes: postgresql beside sqlite + browser ==="
  ( run_postgresql >"$logs/postgresql" 2>&1; echo $? >"$logs/postgresql.rc" ) &
  ( run_sqlite >"$logs/sqlite" 2>&1; echo $? >"$logs/sqlite.rc"
    if [ "$have_browser" = "1" ]; then run_browser >"$logs/browser" 2>&1; echo $? >"$logs/browser.rc"; fi ) &
  wait
  for name in sqlite postgresql browser; do
    [ -f "$logs/$name.rc" ] || continue
    echo "=== lane: $name ==="
    cat "$logs/$name"
    if [ "$(cat "$logs/$name.rc")" != "0" ]; then
      echo "=== lane $name FAILED ==="
      status=1
    fi
  done
  rm -rf "$logs"
else
  lane sqlite run_sqlite
  if [ "$have_pg" = "1" ]; then
    lane postgresql run_postgresql
  else
    skip postgresql "no PostgreSQL at $PG_URL"
  fi
  if [ "$have_browser" = "1" ]; then
    lane browser run_browser
  fi
fi
if [ "$have_browser" = "0" ]; then
  skip browser "chromium or java is not installed"
fi

exit $status
