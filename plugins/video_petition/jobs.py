"""Retention of recordings: files older than ``PORTAL_VIDEO_RETENTION_DAYS`` (default 180) after
they were saved are deleted; the row stays (state ``purged``, with its SHA-256) so the matter's
record still says a recording existed. Idempotent: a purged row is never touched again. The
signal log of sessions that ended more than a day ago is deleted too."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from portal import clock
from portal.audit.chain import SYSTEM, AuditTrail
from portal.crypto import audit_key
from portal.db import raw, write_transaction

__all__ = ["RETENTION", "retention", "retention_days"]

RETENTION = "video_petition.retention"
DEFAULT_DAYS = 180
SIGNAL_DAYS = 1


def retention_days(environ=None) -> int:
    value = (environ or os.environ).get("PORTAL_VIDEO_RETENTION_DAYS", "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else DEFAULT_DAYS


async def retention(ctx) -> dict:
    from plugins.video_petition.recordings import recording_dir

    now = getattr(ctx, "now", None) or clock.now()
    cutoff = now - dt.timedelta(days=retention_days())
    rows = await raw("SELECT r.id, r.path, s.center FROM video_petition_recording r JOIN video_petition_session s "
                     "ON s.id = r.session WHERE r.state = 'finished' AND r.finished_at < {} ORDER BY r.id LIMIT 200", cutoff)
    directory: Path = recording_dir(ctx.settings)
    trail = AuditTrail(audit_key(ctx.settings), SYSTEM)
    purged = 0
    for row in rows:
        async with write_transaction():
            done = await raw("UPDATE video_petition_recording SET state = 'purged', purged_at = {} "
                             "WHERE id = {} AND state = 'finished' RETURNING id", now, row["id"])
            if not done:
                continue
            if row["path"]:
                (directory / row["path"]).unlink(missing_ok=True)
            await trail("video_petition.recording_purged", object_type="video_petition_recording",
                        object_id=row["id"], center_id=row["center"])
            purged += 1
    # The room's signal log is only needed while the call runs (and for a reconnect's resume).
    await raw("DELETE FROM video_petition_signal WHERE session IN (SELECT id FROM video_petition_session "
              "WHERE status = 'ended' AND ended_at < {})", now - dt.timedelta(days=SIGNAL_DAYS))
    return {"purged": purged}
