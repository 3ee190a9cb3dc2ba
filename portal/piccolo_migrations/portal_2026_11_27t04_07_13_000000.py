"""The work queue's sorts: an index for each order besides newest/oldest first (the primary key).

Keyset pagination reads a page by seeking to the last row's key and reading on in index order, so
every sort needs an index whose order is the sort's, including the id that breaks ties (deadlines
are end-of-day times: thousands of matters share one). Without them the deadline sort read and
sorted every open matter of the subtree for each page, and "recently updated" every matter.

* (due_at, id) of open matters (partial index): deadline soonest first, which lists open matters
  only (closed ones have no deadline; a replied one's is the petitioner's). The queue repeats the
  predicate word for word (``queue.OPEN_SQL``): SQLite uses a partial index only then, and
  PostgreSQL only when it is not a parameter. It also finds the open matters without a deadline,
  which come last; a full index would have them among the ~950,000 closed matters.
* (updated_at, id): recently updated first (read backwards).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T04:07:13:000000"
VERSION = "1.38.0"
DESCRIPTION = "matters: queue sort indexes"

STATEMENTS = [
    # The statuses are portal.matters.vocab.OPEN_STATUSES (tests/core/matters/test_queue_sort.py checks).
    "CREATE INDEX matter_open_due_id ON matter (due_at, id) "
    "WHERE status IN ('registered', 'accepted', 'assigned', 'review', 'rereview')",
    "CREATE INDEX matter_updated_at_id ON matter (updated_at, id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
