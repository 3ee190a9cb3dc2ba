"""The portal works without JavaScript: sign in, add a center (with a wrong first try), switch a
service module off and on, 长辈版 on and off, sign out. And the same core path with htmx loaded."""

from __future__ import annotations

import random
import re

import pytest
from playwright.sync_api import expect

from portal.i18n import gettext
from tests.browser.conftest import elder_link, sign_in

SAMPLE = "示例服务"  # the sample module's label (its nav item, dashboard card and page)


def _nav_item(page):
    return page.locator("header nav.service-nav").get_by_role("link", name=SAMPLE, exact=True)


def _module_button(page, action: str):
    # The visible text ("Switch off") plus the module's name in visually hidden text.
    return page.locator("main").get_by_role("button", name=re.compile(rf"^{re.escape(gettext(action))}\s*{SAMPLE}$"))


def _switch_sample_module_off_and_on(page) -> None:
    page.goto("/admin/modules")
    expect(_nav_item(page)).to_be_visible()

    _module_button(page, "Switch off").click()
    expect(page).to_have_url(re.compile(r"/admin/modules$"))
    expect(page.locator("main .notice.success")).to_contain_text(
        gettext("%(module)s is now switched off at this center. Its records are kept.", module=SAMPLE)
    )
    expect(_nav_item(page)).to_have_count(0)
    expect(_module_button(page, "Switch on")).to_be_visible()
    page.goto("/dashboard")
    expect(_nav_item(page)).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("示例服务卡片")
    response = page.goto("/m/sample_module/")
    assert response.status == 404, f"a switched-off module's page answered {response.status}"

    page.goto("/admin/modules")
    _module_button(page, "Switch on").click()
    expect(page.locator("main .notice.success")).to_contain_text(
        gettext("%(module)s is now switched on at this center.", module=SAMPLE)
    )
    expect(_nav_item(page)).to_be_visible()
    _nav_item(page).click()
    expect(page).to_have_url(re.compile(r"/m/sample_module/$"))
    expect(page.locator("h1")).to_have_text(f"{SAMPLE}！")


@pytest.mark.browser
def test_everything_works_without_javascript(js_off_page):
    page = js_off_page
    sign_in(page, "dmz_admin")
    expect(page.locator("h1")).to_have_text(gettext("Workbench"))

    # --- add a village center under 大满镇: a wrong try first, then a correct one
    suffix = f"{random.randrange(10_000):04d}"
    name, code = f"测试{suffix}村综治中心", f"GZQ-DMZ-T{suffix}"
    page.goto("/admin/centers")
    # Visible text plus the parent's name in visually hidden text (joined with a space by some engines).
    add_link = re.compile(rf"^{re.escape(gettext('Add a center under it'))}\s*（大满镇综治中心）$")
    page.locator("main").get_by_role("link", name=add_link).click()
    expect(page.locator("h1")).to_have_text(gettext("Add a center under %(parent)s", parent="大满镇综治中心"))
    form = page.locator("main form[method='post']")
    fields = {
        "name": form.get_by_label(gettext("Name"), exact=True),
        "code": form.get_by_label(gettext("Code"), exact=True),
        "address": form.get_by_label(gettext("Address"), exact=True),
        "phone": form.get_by_label(gettext("Phone"), exact=True),
        "hours": form.get_by_label(gettext("Opening hours"), exact=True),
    }
    fields["name"].fill(name)
    fields["code"].fill("bad code!")
    fields["address"].fill("甘州区大满镇测试路1号")
    fields["phone"].fill("12345")
    fields["hours"].fill("工作日 9:00-17:00")
    form.get_by_role("button", name=gettext("Save"), exact=True).click()

    expect(page).to_have_title(re.compile("^" + re.escape(gettext("Error: "))))
    summary = page.locator("main .error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading")).to_have_text(gettext("There is a problem"))
    expect(summary.get_by_role("link")).to_have_count(2)
    expect(summary.locator("a[href='#code']")).to_have_text(
        gettext("The code may use only letters, digits, '-' and '_', 2 to 32 characters.")
    )
    expect(summary.locator("a[href='#phone']")).to_have_text(
        gettext("Enter a phone number such as 0936-8212345 or an 11-digit mobile number.")
    )
    expect(summary).not_to_be_focused()  # portal.js would focus it: proof that no script ran
    # What was typed is kept (the code comes back upper-cased, as it is stored).
    expect(fields["name"]).to_have_value(name)
    expect(fields["code"]).to_have_value("BAD CODE!")
    expect(fields["address"]).to_have_value("甘州区大满镇测试路1号")
    expect(fields["phone"]).to_have_value("12345")
    expect(fields["hours"]).to_have_value("工作日 9:00-17:00")
    expect(fields["code"]).to_have_attribute("aria-invalid", "true")
    expect(fields["phone"]).to_have_attribute("aria-invalid", "true")
    expect(fields["name"]).not_to_have_attribute("aria-invalid", "true")
    code_error = gettext("The code may use only letters, digits, '-' and '_', 2 to 32 characters.")
    expect(fields["code"]).to_have_accessible_description(re.compile(re.escape(code_error)))

    fields["code"].fill(code)
    fields["phone"].fill("0936-8561234")
    form.get_by_role("button", name=gettext("Save"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/centers/\d+$"))
    expect(page.locator("main .notice.success")).to_have_text(gettext("The center %(name)s has been added.", name=name))
    expect(page.locator("h1")).to_have_text(name)

    page.goto("/admin/centers")
    township = page.locator("main .tree li").filter(
        has=page.get_by_role("link", name="大满镇综治中心", exact=True)
    ).first
    expect(township.locator(".tree").get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(township.locator(".tree li").filter(has_text=name)).to_contain_text(code)
    page.goto("/centers")  # and on the public tree
    expect(page.locator("main").get_by_role("link", name=name, exact=True)).to_have_attribute("href", f"/c/{code}")

    # --- the sample module: off (nav item gone) and on again (nav item back)
    _switch_sample_module_off_and_on(page)

    # --- 长辈版 on and off through the header link; we stay on the same page
    elder_link(page, on=True).click()
    expect(page.locator("html")).to_have_class("elder")
    expect(page).to_have_url(re.compile(r"/m/sample_module/?$"))  # back where we were
    expect(page.locator("h1")).to_have_text(f"{SAMPLE}！")
    page.goto("/dashboard")
    expect(page.locator("html")).to_have_class("elder")
    elder_link(page, on=False).click()
    expect(page.locator("html")).not_to_have_class("elder")
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    # --- sign out
    page.locator("header").get_by_role("button", name=gettext("Sign out"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("main .notice")).to_contain_text(gettext("You have signed out."))
    expect(page.locator("header").get_by_role("button", name=gettext("Sign out"))).to_have_count(0)
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login"))


@pytest.mark.browser
def test_sign_in_and_module_switch_with_htmx(page):
    sign_in(page, "dmz_admin")
    assert page.evaluate("() => window.htmx && window.htmx.version") == "2.0.11"
    assert page.evaluate("() => window.htmx.config.historyCacheSize") == 0
    _switch_sample_module_off_and_on(page)


@pytest.mark.browser
def test_module_nav_item_is_marked_current(page):
    sign_in(page, "dmz_admin")
    page.goto("/m/sample_module/")
    expect(_nav_item(page)).to_have_attribute("aria-current", "page", timeout=1_000)
