"""The role × record matrix of the admin pages, checked against an oracle written from the rules.

Rules (ARCHITECTURE §4, docs/security.md, portal/auth/roles.py's docstring):

* Staff see their own center and the centers below it. A record anywhere else does not exist for
  them: **404**, whatever their role, so an id cannot be probed.
* Inside that subtree, an action the role does not allow is **403**.
* Powers are separated: the system admin and the center admin run centers, departments and modules;
  the security admin and the center admin run staff accounts; only the security admin touches the
  three administrator roles and accounts and ends sessions / unlocks; only the audit viewer reads the
  audit log.
* Module allowances are decided at the district, for the centers of its tree; a center switches only
  its own modules on or off.
* Villages have no centers below them.

The oracle below encodes these rules itself; it does not call the product's permission code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from portal.tables import AuditLog, Center, Department, StaffRole, StaffUser
from tests.conftest import html_text
from tests.core.auth.helpers import center_id, db_state, department_id, login_with_totp, make_staff, user_id

# ------------------------------------------------------------------------------ oracle

PARENT = {
    "GZQ": None,
    "GZQ-DMZ": "GZQ",
    "GZQ-DZZ": "GZQ",
    "GZQ-LJD": "GZQ",
    "GZQ-DJ": "GZQ",
    "GZQ-DMZ-XXC": "GZQ-DMZ",
    "GZQ-DMZ-DMC": "GZQ-DMZ",
    "GZQ-DZZ-DZC": "GZQ-DZZ",
    "GZQ-DZZ-XZC": "GZQ-DZZ",
    "GZQ-DJ-NJ": "GZQ-DJ",
}
ADMIN_ROLES = {"system_admin", "security_admin", "audit_viewer"}

# What each power needs (separation of powers, 三员分立).
POWERS = {
    "centers": {"system_admin", "center_admin"},
    "departments": {"system_admin", "center_admin"},
    "staff": {"security_admin", "center_admin"},
    "sessions": {"security_admin"},
    "modules": {"system_admin", "center_admin"},  # see the module page, and allow at the district
    "switch_modules": {"center_admin"},
    "audit": {"audit_viewer"},
}


def level(code: str) -> str:
    depth = 0
    while PARENT[code] is not None:
        code, depth = PARENT[code], depth + 1
    return ("district", "township", "village")[depth]


def within(top: str, code: str) -> bool:
    """Is center ``code`` the center ``top`` or below it?"""
    while code is not None:
        if code == top:
            return True
        code = PARENT[code]
    return False


@dataclass(frozen=True)
class Account:
    username: str
    center: str
    roles: frozenset[str]
    demo: bool = True


@dataclass
class Probe:
    """One request naming one record. ``rule`` adds the route's own condition to the general ones."""

    method: str
    url: str
    power: str
    center: str  # the center the named record belongs to
    ok: int  # the answer when everything is allowed
    rule: str = ""  # "child_of", "admin_account", "allow_module", "switch_module"
    data: list = field(default_factory=list)
    target_roles: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


def expected(account: Account, probe: Probe) -> int:
    if not within(account.center, probe.center):
        return 404
    if not account.roles & POWERS[probe.power]:
        return 403
    if probe.rule == "child_of" and level(probe.center) == "village":
        return 404
    if probe.rule == "admin_account" and probe.target_roles & ADMIN_ROLES and "security_admin" not in account.roles:
        return 403
    if probe.rule == "allow_module" and level(account.center) != "district":
        return 403
    if probe.rule == "switch_module" and (probe.center != account.center or not account.roles & POWERS["switch_modules"]):
        return 403
    return probe.ok


def holds_power(account: Account, probe: Probe) -> bool:
    return bool(account.roles & POWERS[probe.power])


ACCOUNTS = {
    "dzz_admin": Account("dzz_admin", "GZQ-DZZ", frozenset({"center_admin"})),
    "dzz_window": Account("dzz_window", "GZQ-DZZ", frozenset({"window_staff"})),
    "xxc_window": Account("xxc_window", "GZQ-DMZ-XXC", frozenset({"window_staff", "center_admin"})),
    "dzz_security": Account("dzz_security", "GZQ-DZZ", frozenset({"security_admin"}), demo=False),
    "dzz_audit": Account("dzz_audit", "GZQ-DZZ", frozenset({"audit_viewer"}), demo=False),
    "gzq_admin": Account("gzq_admin", "GZQ", frozenset({"center_admin"})),
    "auditor": Account("auditor", "GZQ", frozenset({"audit_viewer"})),
    "secadmin": Account("secadmin", "GZQ", frozenset({"security_admin"})),
}
TOWNSHIP_ACCOUNTS = ["dzz_admin", "dzz_window", "xxc_window", "dzz_security", "dzz_audit"]


def test_oracle_follows_the_rules():
    """The oracle itself, on cases worked out by hand."""
    dzz_window, xxc = ACCOUNTS["dzz_window"], ACCOUNTS["xxc_window"]
    dmz_center = Probe("GET", "/x", "centers", "GZQ-DMZ", 200)
    assert expected(dzz_window, dmz_center) == 404  # out of scope beats a missing permission
    assert expected(ACCOUNTS["dzz_admin"], dmz_center) == 404
    assert expected(ACCOUNTS["gzq_admin"], dmz_center) == 200
    assert expected(xxc, dmz_center) == 404  # the village does not see its township
    assert expected(xxc, Probe("GET", "/x", "centers", "GZQ-DMZ-XXC", 200)) == 200
    assert expected(xxc, Probe("GET", "/x", "centers", "GZQ-DMZ-XXC", 200, "child_of")) == 404
    assert expected(dzz_window, Probe("GET", "/x", "staff", "GZQ-DZZ", 200)) == 403
    assert expected(ACCOUNTS["dzz_admin"], Probe("POST", "/x", "modules", "GZQ-DZZ", 303, "allow_module")) == 403
    assert expected(ACCOUNTS["gzq_admin"], Probe("POST", "/x", "modules", "GZQ-DZZ", 303, "switch_module")) == 403
    assert level("GZQ") == "district" and level("GZQ-DZZ-XZC") == "village"


# ------------------------------------------------------------------------------ set-up


@pytest.fixture
def sign_in(client_factory, settings):
    """Sign an account of ACCOUNTS in (creating the non-demo ones with a second factor)."""

    async def go(name: str):
        account = ACCOUNTS[name]
        browser = await client_factory()
        if account.demo:
            await browser.login(name)
        else:
            _id, secret = await make_staff(settings, name, account.center, sorted(account.roles))
            await login_with_totp(browser, name, secret)
        return browser

    return go


async def _center_form(code: str, **changes) -> list[tuple[str, str]]:
    row = await Center.select().where(Center.code == code).first()
    values = {"name": row["name"], "code": row["code"], "address": row["address"], "phone": row["phone"], "hours": row["hours"]}
    values.update(changes)
    return [*values.items(), *([("active", "1")] if row["active"] else [])]


async def _department_form(code: str, **changes) -> list[tuple[str, str]]:
    row = await Department.select().where(Department.code == code).first()
    values = {"name": row["name"], "code": row["code"], "center": str(row["center"]), "phone": row["phone"]}
    values.update(changes)
    levels = [name for name in ("at_district", "at_township", "at_village") if row[name]]
    return [*values.items(), *[("levels", lv) for lv in levels], *([("active", "1")] if row["active"] else [])]


async def _staff_form(username: str, **changes) -> list[tuple[str, str]]:
    row = await StaffUser.select().where(StaffUser.username == username).first()
    roles = [r["role"] for r in await StaffRole.select(StaffRole.role).where(StaffRole.user == row["id"])]
    values = {
        "display_name": row["display_name"],
        "phone": row["phone"],
        "email": row["email"],
        "center": str(row["center"]),
        "department": str(row["department"] or ""),
    }
    values.update(changes)
    return [*values.items(), *[("roles", r) for r in roles], *([("active", "1")] if row["active"] else [])]


async def _roles(username: str) -> frozenset[str]:
    return frozenset(r["role"] for r in await StaffRole.select(StaffRole.role).where(StaffRole.user == await user_id(username)))


async def foreign_probes() -> list[Probe]:
    """Every admin request that names a record of 大满镇 or one of its villages."""
    dmz, xxc = await center_id("GZQ-DMZ"), await center_id("GZQ-DMZ-XXC")
    dmz_window, xxc_window = await user_id("dmz_window"), await user_id("xxc_window")
    sfs = await department_id("DMZ-SFS")
    probes = [
        Probe("GET", f"/admin/centers/{dmz}", "centers", "GZQ-DMZ", 200),
        Probe("GET", f"/admin/centers/{xxc}", "centers", "GZQ-DMZ-XXC", 200),
        Probe("GET", f"/admin/centers/new?parent={dmz}", "centers", "GZQ-DMZ", 200, "child_of"),
        Probe("POST", f"/admin/centers/new?parent={dmz}", "centers", "GZQ-DMZ", 303, "child_of",
              data=[("name", "冒名新村综治中心"), ("code", "GZQ-DMZ-FAKE"), ("address", ""), ("phone", ""), ("hours", ""), ("active", "1")]),
        Probe("POST", f"/admin/centers/{dmz}", "centers", "GZQ-DMZ", 303, data=await _center_form("GZQ-DMZ", name="被改名的中心")),
        Probe("GET", f"/admin/departments/{sfs}", "departments", "GZQ-DMZ", 200),
        Probe("POST", f"/admin/departments/{sfs}", "departments", "GZQ-DMZ", 303, data=await _department_form("DMZ-SFS", name="被改名的所")),
        Probe("GET", f"/admin/staff/{dmz_window}", "staff", "GZQ-DMZ", 200, "admin_account", target_roles=await _roles("dmz_window")),
        Probe("GET", f"/admin/staff/{xxc_window}", "staff", "GZQ-DMZ-XXC", 200, "admin_account", target_roles=await _roles("xxc_window")),
        Probe("POST", f"/admin/staff/{dmz_window}", "staff", "GZQ-DMZ", 303, "admin_account",
              data=await _staff_form("dmz_window", display_name="被改名的人"), target_roles=await _roles("dmz_window")),
        Probe("POST", f"/admin/staff/{dmz_window}/reset-password", "staff", "GZQ-DMZ", 200, "admin_account",
              target_roles=await _roles("dmz_window")),
    ]
    for action in ("unlock", "revoke-sessions", "reset-totp"):
        probes.append(Probe("POST", f"/admin/staff/{dmz_window}/{action}", "sessions", "GZQ-DMZ", 303, "admin_account",
                            target_roles=await _roles("dmz_window")))
    for center, code in ((dmz, "GZQ-DMZ"), (xxc, "GZQ-DMZ-XXC")):
        for action in ("allow", "withdraw"):
            probes.append(Probe("POST", f"/admin/modules/{center}/sample_module/{action}", "modules", code, 303, "allow_module"))
        for action in ("enable", "disable"):
            probes.append(Probe("POST", f"/admin/modules/{center}/sample_module/{action}", "modules", code, 303, "switch_module"))
    return probes


async def own_probes(account: Account, settings) -> list[Probe]:
    """The same kinds of request for records of the account's own center (reads and unchanged saves)."""
    own = await center_id(account.center)
    colleague = f"mate_{account.username}"[:30]
    await make_staff(settings, colleague, account.center, ["window_staff"])
    mate = await user_id(colleague)
    probes = [
        Probe("GET", f"/admin/centers/{own}", "centers", account.center, 200),
        Probe("GET", f"/admin/centers/new?parent={own}", "centers", account.center, 200, "child_of"),
        Probe("POST", f"/admin/centers/{own}", "centers", account.center, 303, data=await _center_form(account.center)),
        Probe("GET", "/admin/centers", "centers", account.center, 200),
        Probe("GET", "/admin/departments", "departments", account.center, 200),
        Probe("GET", "/admin/staff", "staff", account.center, 200),
        Probe("GET", f"/admin/staff/{mate}", "staff", account.center, 200, "admin_account", target_roles=frozenset({"window_staff"})),
        Probe("POST", f"/admin/staff/{mate}", "staff", account.center, 303, "admin_account",
              data=await _staff_form(colleague), target_roles=frozenset({"window_staff"})),
        Probe("POST", f"/admin/staff/{mate}/unlock", "sessions", account.center, 303, "admin_account",
              target_roles=frozenset({"window_staff"})),
        Probe("POST", f"/admin/staff/{mate}/reset-password", "staff", account.center, 200, "admin_account",
              target_roles=frozenset({"window_staff"})),
        Probe("GET", "/admin/modules", "modules", account.center, 200),
        Probe("POST", f"/admin/modules/{own}/sample_module/enable", "modules", account.center, 303, "switch_module"),
        Probe("POST", f"/admin/modules/{own}/sample_module/allow", "modules", account.center, 303, "allow_module"),
        Probe("GET", "/audit", "audit", account.center, 200),
    ]
    if level(account.center) == "township":
        village = next(code for code, parent in PARENT.items() if parent == account.center)
        department = {"GZQ-DZZ": "DZZ-SFS", "GZQ-DMZ": "DMZ-SFS"}[account.center]
        dept = await department_id(department)
        probes += [
            Probe("GET", f"/admin/centers/{await center_id(village)}", "centers", village, 200),
            Probe("GET", f"/admin/departments/{dept}", "departments", account.center, 200),
            Probe("POST", f"/admin/departments/{dept}", "departments", account.center, 303, data=await _department_form(department)),
        ]
    return probes


async def run(browser, probes: list[Probe], account: Account) -> list[str]:
    mismatches = []
    for probe in probes:
        if probe.method == "GET":
            response = await browser.get(probe.url, follow_redirects=False)
        else:
            response = await browser.submit(probe.url, probe.data)
        want = expected(account, probe)
        if response.status_code != want:
            mismatches.append(f"{account.username}: {probe} → {response.status_code}, expected {want}")
    return mismatches


# ------------------------------------------------------------------------------ matrix


@pytest.mark.parametrize("name", TOWNSHIP_ACCOUNTS)
async def test_records_of_another_township_are_not_found(name, sign_in):
    """Cells where the role holds the power for the route: scope alone must hide the record."""
    account = ACCOUNTS[name]
    browser = await sign_in(name)
    probes = [p for p in await foreign_probes() if holds_power(account, p)]
    before = await db_state()
    mismatches = await run(browser, probes, account)
    assert not mismatches, "\n".join(mismatches)
    assert await db_state() == before


@pytest.mark.parametrize("name", TOWNSHIP_ACCOUNTS)
async def test_records_of_another_township_are_not_found_even_without_the_power(name, sign_in):
    """Cells where the role lacks the power: still 404, so nobody learns which ids exist elsewhere."""
    account = ACCOUNTS[name]
    browser = await sign_in(name)
    probes = [p for p in await foreign_probes() if not holds_power(account, p)]
    if not probes:
        pytest.skip("this role holds every power the probes need")
    before = await db_state()
    mismatches = await run(browser, probes, account)
    assert not mismatches, "\n".join(mismatches)
    assert await db_state() == before


@pytest.mark.parametrize("name", TOWNSHIP_ACCOUNTS)
async def test_records_of_the_own_center_answer_by_role(name, sign_in, settings):
    account = ACCOUNTS[name]
    browser = await sign_in(name)
    probes = await own_probes(account, settings)
    mismatches = await run(browser, probes, account)
    assert not mismatches, "\n".join(mismatches)


async def test_district_admin_reaches_both_townships(sign_in):
    account = ACCOUNTS["gzq_admin"]
    browser = await sign_in("gzq_admin")
    dzz, dzc = await center_id("GZQ-DZZ"), await center_id("GZQ-DZZ-DZC")
    probes = [p for p in await foreign_probes() if p.method == "GET"] + [
        Probe("GET", f"/admin/centers/{dzz}", "centers", "GZQ-DZZ", 200),
        Probe("GET", f"/admin/centers/{dzc}", "centers", "GZQ-DZZ-DZC", 200),
        Probe("GET", f"/admin/centers/new?parent={dzz}", "centers", "GZQ-DZZ", 200, "child_of"),
        Probe("GET", f"/admin/staff/{await user_id('dzz_window')}", "staff", "GZQ-DZZ", 200),
        Probe("GET", f"/admin/departments/{await department_id('DZZ-SFS')}", "departments", "GZQ-DZZ", 200),
        Probe("POST", f"/admin/modules/{dzz}/sample_module/allow", "modules", "GZQ-DZZ", 303, "allow_module"),
        Probe("POST", f"/admin/modules/{dzz}/sample_module/enable", "modules", "GZQ-DZZ", 303, "switch_module"),
    ]
    assert all(expected(account, p) in (200, 303) for p in probes[:-1])
    mismatches = await run(browser, probes, account)
    assert not mismatches, "\n".join(mismatches)


async def test_probing_ids_from_a_village_finds_only_its_own_records(sign_in):
    """Sequential ids as the village's admin: every center and account outside 新新村 is 404."""
    account = ACCOUNTS["xxc_window"]
    browser = await sign_in("xxc_window")
    centers = {row["id"]: row["code"] for row in await Center.select(Center.id, Center.code)}
    people = {
        row["id"]: row["center.code"]
        for row in await StaffUser.select(StaffUser.id, StaffUser.center.code)
    }
    mismatches = []
    for cid in range(1, max(centers) + 3):
        want = expected(account, Probe("GET", "", "centers", centers[cid], 200)) if cid in centers else 404
        got = (await browser.get(f"/admin/centers/{cid}")).status_code
        if got != want:
            mismatches.append(("center", cid, got, want))
    for sid in range(1, max(people) + 3):
        want = expected(account, Probe("GET", "", "staff", people[sid], 200)) if sid in people else 404
        got = (await browser.get(f"/admin/staff/{sid}")).status_code
        if got != want:
            mismatches.append(("staff", sid, got, want))
    assert mismatches == []


# ------------------------------------------------------------------------------ lists


def _usernames_listed(page_html: str) -> set[str]:
    # Administrator accounts a center admin may not manage are listed without a link.
    rows = re.findall(r"<tr>\s*<td>.*?</td>\s*<td>([^<]+)</td>", page_html.split("<tbody>", 1)[-1], flags=re.S)
    return {name.strip() for name in rows}


async def _visible_staff(account: Account) -> set[str]:
    rows = await StaffUser.select(StaffUser.username, StaffUser.center.code)
    return {row["username"] for row in rows if within(account.center, row["center.code"])}


@pytest.mark.parametrize("name", ["dzz_admin", "xxc_window", "gzq_admin"])
async def test_staff_list_shows_exactly_the_people_in_scope(name, sign_in):
    account = ACCOUNTS[name]
    browser = await sign_in(name)
    page = await browser.get("/admin/staff")
    assert page.status_code == 200
    assert _usernames_listed(page.text) == await _visible_staff(account)
    # Searching does not reach past the scope either.
    for q in ("dmz", "大满镇", "admin", "window"):
        found = _usernames_listed((await browser.get("/admin/staff", params={"q": q})).text)
        assert found <= await _visible_staff(account), q


async def test_township_admin_lists_show_nothing_of_the_other_township(sign_in):
    browser = await sign_in("dzz_admin")
    staff = await browser.get("/admin/staff")
    assert "dzz_window" in staff.text
    for leaked in ("dmz_admin", "dmz_window", "xxc_window", "大满镇"):
        assert leaked not in html_text(staff), leaked
    centers = html_text(await browser.get("/admin/centers"))
    assert "党寨村综治中心" in centers
    for leaked in ("大满镇", "新新村", "梁家墩镇"):
        assert leaked not in centers, leaked
    departments = html_text(await browser.get("/admin/departments"))
    assert "党寨镇司法所" in departments and "大满镇司法所" not in departments
    # The forms offer only centers in scope.
    form = (await browser.get("/admin/staff/new")).text
    assert f'value="{await center_id("GZQ-DMZ")}"' not in re.search(r'<select id="center".*?</select>', form, re.S).group(0)


async def _audit_seqs(page_html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', page_html)]


async def test_township_audit_viewer_reads_only_its_townships_entries(sign_in, client_factory):
    for person in ("dmz_admin", "dzz_admin"):  # each leaves a signed entry at their center
        browser = await client_factory()
        await browser.login(person)
        await browser.submit("/logout")
    viewer = await sign_in("dzz_audit")
    page = await viewer.get("/audit")
    assert page.status_code == 200
    rows = await AuditLog.select(AuditLog.seq, AuditLog.center_id)
    codes = {row["id"]: row["code"] for row in await Center.select(Center.id, Center.code)}
    visible = sorted(
        (row["seq"] for row in rows if row["center_id"] in codes and within("GZQ-DZZ", codes[row["center_id"]])), reverse=True
    )
    assert await _audit_seqs(page.text) == visible[:50]
    assert "dzz_admin" in html_text(page) and "dmz_admin" not in html_text(page)
    # Filters cannot widen the scope.
    dmz = await center_id("GZQ-DMZ")
    for params in ({"center": str(dmz)}, {"actor": "dmz_admin"}):
        filtered = await viewer.get("/audit", params=params)
        assert "dmz_admin" not in html_text(filtered)
        assert set(await _audit_seqs(filtered.text)) <= set(visible)


async def test_audit_log_is_for_the_audit_viewer_only(sign_in):
    assert (await (await sign_in("auditor")).get("/audit")).status_code == 200
    for name in ("gzq_admin", "dzz_admin", "dzz_security"):
        assert (await (await sign_in(name)).get("/audit")).status_code == 403, name


# --------------------------------------------------------------- separation of powers


async def _new_staff_form(browser, username: str, roles: list[str], center: str = "GZQ-DZZ") -> list[tuple[str, str]]:
    page = await browser.get("/admin/staff/new")
    key = re.search(r'name="_submission_key" value="([^"]+)"', page.text)
    return [
        ("_submission_key", key.group(1) if key else ""),
        ("username", username),
        ("display_name", "测试人员"),
        ("center", str(await center_id(center))),
        ("department", ""),
        *[("roles", role) for role in roles],
    ]


@pytest.mark.parametrize("role", ["system_admin", "security_admin", "audit_viewer"])
async def test_center_admin_cannot_grant_an_administrator_role(role, sign_in):
    browser = await sign_in("gzq_admin")
    page = await browser.get("/admin/staff/new")
    assert f'value="{role}"' not in page.text  # not offered
    count = await StaffUser.count()
    response = await browser.submit("/admin/staff/new", await _new_staff_form(browser, "sneaky_one", ["window_staff", role]))
    assert response.status_code == 422
    assert await StaffUser.count() == count
    assert not await StaffUser.exists().where(StaffUser.username == "sneaky_one")

    # Nor by editing an existing account.
    target = await user_id("dzz_window")
    before = await _roles("dzz_window")
    response = await browser.submit(f"/admin/staff/{target}", await _staff_form("dzz_window") + [("roles", role)])
    assert response.status_code == 422
    assert await _roles("dzz_window") == before


async def test_security_admin_can_grant_an_administrator_role(sign_in):
    browser = await sign_in("secadmin")
    response = await browser.submit("/admin/staff/new", await _new_staff_form(browser, "new_auditor", ["audit_viewer"]))
    assert response.status_code == 200
    assert await _roles("new_auditor") == {"audit_viewer"}


async def test_center_admin_cannot_touch_the_administrator_accounts(sign_in):
    browser = await sign_in("gzq_admin")
    for username in ("secadmin", "sysadmin", "auditor"):
        target = await user_id(username)
        before = await StaffUser.select().where(StaffUser.id == target).first()
        assert (await browser.get(f"/admin/staff/{target}")).status_code == 403, username
        response = await browser.submit(f"/admin/staff/{target}", await _staff_form(username, display_name="被改名"))
        assert response.status_code == 403, username
        assert (await browser.submit(f"/admin/staff/{target}/reset-password")).status_code == 403, username
        assert await StaffUser.select().where(StaffUser.id == target).first() == before


async def test_forms_refuse_centers_outside_scope(sign_in):
    """Ids in form fields are checked like ids in paths (mass assignment)."""
    browser = await sign_in("dzz_admin")
    dmz = str(await center_id("GZQ-DMZ"))
    before = await db_state()
    response = await browser.submit("/admin/staff/new", await _new_staff_form(browser, "planted_user", ["window_staff"], "GZQ-DMZ"))
    assert response.status_code == 422
    target = await user_id("dzz_window")
    response = await browser.submit(f"/admin/staff/{target}", await _staff_form("dzz_window", center=dmz))
    assert response.status_code == 422
    response = await browser.submit(
        "/admin/departments/new",
        [("name", "冒名部门"), ("code", "FAKE-DEPT"), ("center", dmz), ("levels", "at_township"), ("active", "1")],
    )
    assert response.status_code == 422
    sfs = await department_id("DZZ-SFS")
    response = await browser.submit(f"/admin/departments/{sfs}", await _department_form("DZZ-SFS", center=dmz))
    assert response.status_code == 422
    assert await db_state() == before
