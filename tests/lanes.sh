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

lane sqlite env PORTAL_TEST_DB=sqlite "$PY" -m pytest -q -m "not browser" tests

if "$PY" - "$PG_URL" <<'PYEOF'
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
then
  lane postgresql env PORTAL_TEST_DB=postgres PORTAL_TEST_PG_URL="$PG_URL" "$PY" -m pytest -q -m "not browser" tests
else
  skip postgresql "no PostgreSQL at $PG_URL"
fi

if command -v chromium >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  lane browser env PORTAL_TEST_DB=sqlite "$PY" -m pytest -q -m browser tests/browser
else
  skip browser "chromium or java is not installed"
fi

exit $status
