"""Hook implementations of the sample module. ``CALLS`` records events so tests can see them."""

from portal.plugin_api import (
    CitizenService,
    Job,
    MatterAction,
    NavItem,
    Panel,
    Permission,
    Service,
    Widget,
    hookimpl,
)

CALLS: list[tuple] = []


@hookimpl
def register_routes(settings):
    from tests.sample_module.routes import ROUTES

    return ROUTES


@hookimpl
def register_permissions():
    return [Permission("sample_module.use", "使用示例服务", frozenset({"window_staff", "center_admin"}))]


@hookimpl
def register_services():
    return [
        Service(key="sample_module.consult", label="示例咨询", duration_minutes=20, bring="身份证"),
        # A longer service on the same resources: the bookings tests book both across one person.
        Service(key="sample_module.session", label="示例会谈", duration_minutes=60),
    ]


async def _tick():
    CALLS.append(("job", "tick"))


@hookimpl
def register_jobs():
    return [Job(name="sample_module.tick", interval_seconds=60, run=_tick)]


@hookimpl
def register_matter_actions():
    return [MatterAction(key="sample_module.poke", label="示例操作", url="/m/sample_module/poke/{matter_id}")]


@hookimpl
def piccolo_apps():
    return []


@hookimpl
def prepare_jinja2_environment(env, settings):
    env.filters["sample_shout"] = lambda value: f"{value}！"


@hookimpl
def register_commands(cli):
    import click

    @cli.command("sample-hello")
    def sample_hello():
        """Say hello (sample module)."""
        click.echo("hello from sample_module")


@hookimpl
def startup(app):
    async def run():
        CALLS.append(("startup", id(app)))

    return run()


@hookimpl
def nav_items(request, center, user):
    return [NavItem("示例服务", "/m/sample_module/", order=50, permission="sample_module.use")]


@hookimpl
async def dashboard_widgets(request, center, user):
    # An async implementation: core awaits it (await_me_maybe).
    return [Widget("示例服务卡片", "sample_module/widget.html", {"center_name": center.name}, order=20, permission="sample_module.use")]


@hookimpl
def matter_panels(request, center, user, matter):
    return [Panel("示例面板", "sample_module/panel.html", {"matter": matter})]


@hookimpl
def citizen_services(request, center):
    return lambda: [CitizenService("示例便民服务", f"/m/sample_module/c/{center.code}", "测试用便民服务入口")]


@hookimpl
def matter_event(event, matter, center, actor):
    CALLS.append(("matter_event", event, center.code))


@hookimpl
def booking_event(event, booking, center, actor):
    CALLS.append(("booking_event", event, center.code))


@hookimpl
def center_module_enabled(center, module, actor):
    CALLS.append(("enabled", center.code, module))


@hookimpl
def center_module_disabled(center, module, actor):
    CALLS.append(("disabled", center.code, module))
