"""The scheduled jobs page for administrators: every job, its last run, and "run now"."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException

from portal.auth.guards import staff_guard
from portal.db import write_transaction
from portal.i18n import _
from portal.jobs.runner import job_rows, run_job
from portal.jobs.tables import JobRun
from portal.plugin_api import Permission
from portal.web.forms import read_form
from portal.web.render import redirect, render
from portal.web.request import trail

__all__ = ["PERMISSIONS", "ROUTES"]

PERMISSIONS = (
    Permission("jobs.view", "查看定时任务", frozenset({"system_admin", "center_admin"})),
    Permission("jobs.run", "立即运行定时任务", frozenset({"system_admin"})),
)
HISTORY = 10


@get("/admin/jobs", opt={"permission": "jobs.view"})
async def jobs_page(request: Request) -> Response:
    registry = request.app.state.registry
    rows = await job_rows(registry)
    for row in rows:
        row["label"] = registry.jobs[row["name"]][1].label
    history = await JobRun.select().order_by(JobRun.id, ascending=False).limit(HISTORY)
    return await render(
        request,
        "jobs/jobs.html",
        {
            "title": _("Scheduled jobs"),
            "jobs": rows,
            "history": history,
            "in_app": request.app.state.settings.jobs_enabled,
        },
    )


@post("/admin/jobs/run", opt={"permission": "jobs.run"})
async def job_run_now(request: Request) -> Response:
    registry = request.app.state.registry
    name = (await read_form(request)).str("name", 64)
    if name not in registry.jobs:
        raise NotFoundException()
    outcome = await run_job(registry, name, force=True, state=request.app.state)
    if outcome.ran:
        async with write_transaction():
            await trail(request)("job.run", object_type="job", object_id=name[:64], fields=["status"])
    else:
        return redirect(request, "/admin/jobs", _("The job is running in another process right now; try again when it has finished."), "error")
    if outcome.status == "error":
        return redirect(request, "/admin/jobs", _("The job failed: %(error)s", error=outcome.error[:200]), "error")
    return redirect(request, "/admin/jobs", _("The job has run: %(result)s", result=outcome.result))


ROUTES = [Router(path="/", guards=[staff_guard], route_handlers=[jobs_page, job_run_now])]
