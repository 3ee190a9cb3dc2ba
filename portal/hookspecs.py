"""The plugin contract: every hook core calls, and the only door into core.

Conventions (see docs/plugins.md):

* pluggy is synchronous. Any implementation may return a value, a zero-argument callable or an
  awaitable; core resolves each result with ``portal.modules.await_me_maybe``. No hook uses
  ``firstresult``, so async implementations are always safe.
* Core always calls hooks with keyword arguments; an implementation may accept any subset.
* ``register_*``, ``piccolo_apps``, ``prepare_jinja2_environment``, ``register_commands``,
  ``sms_senders`` and ``startup`` run once, for every installed plugin, while the app (or CLI) is built.
* ``nav_items``, ``dashboard_widgets``, ``matter_panels`` and ``citizen_services`` run per request
  and reach only the plugins enabled for the current center. So do the events.
* Return types live in ``portal.plugin_api``. A hook returns a list (or ``None`` for nothing).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("portal")
hookimpl = pluggy.HookimplMarker("portal")

# --------------------------------------------------------------------------- startup


@hookspec
def register_routes(settings):
    """Return Litestar route handlers (functions, Controllers or Routers) for this plugin.

    Called once while the app is built. Core mounts them under ``/m/<plugin name>`` behind a guard
    that answers 404 when the plugin is not enabled for the current center. Sync only.
    """


@hookspec
def register_permissions():
    """Return ``Permission`` objects this plugin checks; names must start with ``<plugin>.``.

    Called once at start-up; ``Permission.roles`` lists the roles that hold it by default. Sync only.
    """


@hookspec
def register_services():
    """Return bookable ``Service`` definitions (legal consultation, counseling session…).

    Called once at start-up; the appointments engine offers a service only at centers where its
    plugin is enabled. Sync only.
    """


@hookspec
def register_jobs():
    """Return periodic ``Job`` definitions for the scheduler (name, interval, coroutine function).

    Called once at start-up (sync only). Name jobs ``<plugin>.<what>``. The scheduler
    (``portal.jobs.runner``) calls ``await job.run(ctx)`` about every ``interval_seconds``, in
    whichever app process takes the job's lease row first (``PORTAL_JOBS=off`` leaves it to
    ``portal jobs run NAME`` from cron); ``ctx`` is a ``JobContext``: ``registry``,
    ``settings``, ``now``, ``sms_senders`` and ``await ctx.enabled_centers()`` — the active
    centers where the registering module is enabled (every active center for core). A module's
    job must act only on those centers.

    Jobs must be idempotent: a lease can run out under a slow job, and cron may run it as well.
    Claim each row acted on in the transaction of the effect — a conditional UPDATE
    (``… SET reminded_at = now WHERE id = … AND reminded_at IS NULL``) or
    ``portal.jobs.runner.claim_once(job_name, key)`` — and queue messages in that same
    transaction, so a reminder is never sent twice. Return a short result (a dataclass, dict or
    text) for the jobs page; an exception is recorded and the job runs again at its next interval.
    """


@hookspec
def register_matter_actions():
    """Return ``MatterAction`` definitions offered on a matter's page (e.g. 「吹哨」 from checkin).

    Called once at start-up; an action is shown only where its plugin is enabled. Sync only.
    """


@hookspec
def piccolo_apps():
    """Return dotted paths of this plugin's Piccolo app modules (``"plugins.x.piccolo_app"``).

    Called when the Piccolo app registry is built (migrations, table binding). Migrations of every
    installed plugin run, whether or not any center enabled it. Sync only.
    """


@hookspec
def prepare_jinja2_environment(env, settings):
    """Add filters, tests or globals to the shared Jinja2 environment.

    Called once after core has set up the environment. Must not touch the database. Sync only.
    """


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``portal`` command line (``cli`` is the root group).

    Called once when the CLI starts. Sync only.
    """


@hookspec
def sms_senders(settings):
    """Return ``SmsSender`` objects that can deliver text messages (an operator's SMS platform).

    Called once while the app is built, for every installed plugin (not per center). The outbox
    tries the senders in ``order`` (then name) and stops at the first that does not raise, so a
    second sender is a fallback; core's HTTP gateway (``PORTAL_SMS_GATEWAY_URL``) has order 0.
    Production refuses to start when neither the gateway nor any plugin provides a sender.
    The hook itself is sync only (return the list); ``SmsSender.send`` may be async.
    """


@hookspec
def startup(app):
    """Run start-up work once the database is reachable (seed defaults, warm caches).

    Called from the app's start-up after the connection pool is open. May be async.
    """


# ------------------------------------------------------------------- per request


@hookspec
def nav_items(request, center, user):
    """Return ``NavItem`` objects for the service navigation of ``center``.

    Called for full-page renders, only for plugins enabled at ``center``. Core drops items
    whose ``permission`` the user lacks and sorts by ``order``. May be async. The answer is reused
    for the same user (center, department, roles, modules) until anyone commits to the database
    (``portal.memo``): derive it from ``user`` and the data, not from the request's URL or headers.
    """


@hookspec
def dashboard_widgets(request, center, user):
    """Return ``Widget`` objects for the signed-in dashboard of ``center``.

    Called when the dashboard renders, only for plugins enabled at ``center``; core filters by
    ``permission`` and sorts by ``order``. May be async. Like ``nav_items`` the answer is reused for
    the same user until anyone commits, and for at most 10 seconds of clock time (figures such as
    "overdue" change with time alone).
    """


@hookspec
def matter_panels(request, center, user, matter):
    """Return ``Panel`` objects shown as extra sections on a matter's page.

    Called when a matter page renders, only for plugins enabled at the matter's center. May be async.
    """


@hookspec
def citizen_services(request, center):
    """Return ``CitizenService`` entries listed on ``center``'s public page.

    Called when the public center page renders, only for plugins enabled at ``center``. May be async.
    """


# ------------------------------------------------------------------------ events


@hookspec
def matter_event(event, matter, center, actor):
    """React to a matter event (registered, accepted, dispatched, replied, rated, escalated, closed…).

    Called inside the transaction that made the change, only for plugins enabled at ``center``;
    an exception rolls the change back. May be async.
    """


@hookspec
def booking_event(event, booking, center, actor):
    """React to a booking event: booked, changed, cancelled, checked_in or no_show.

    ``booking`` is the booking row as a dict (id, code, service_key, resource, starts_at, ends_at,
    citizen, status…). Called inside the transaction that made the change (for no_show: the job's
    per-booking transaction), only for plugins enabled at ``center``; an exception rolls the change
    back. May be async.
    """


@hookspec
def center_module_enabled(center, module, actor):
    """A center switched ``module`` on: seed its per-center defaults.

    Called inside the enabling transaction, for the enabled plugin only. May be async.
    """


@hookspec
def center_module_disabled(center, module, actor):
    """A center switched ``module`` off (or the district withdrew it). Data stays; only access goes.

    Called inside the disabling transaction, for the disabled plugin only. May be async.
    """
