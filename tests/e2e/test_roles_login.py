"""Each demo role signs in, sees its dashboard in Chinese, switches to English and back."""

import pytest
from playwright.sync_api import expect

from portal.seed import DEMO_PASSWORD

ROLES = [
    ("admin", "待审核的注册申请", "Registrations waiting for approval"),
    ("officer", "郑州市民政局", "郑州市民政局"),
    ("district_officer", "中原区民政局", "中原区民政局"),
    ("ngo1", "郑州市中原区阳光社会工作服务中心", "Tenders you can bid for"),
    ("expert1", "专家工作台", "Expert workspace"),
]


@pytest.mark.parametrize(("username", "zh_marker", "en_marker"), ROLES)
def test_demo_role_signs_in_and_switches_language(page, live_server, demo_data, screenshot, username, zh_marker,
                                                  en_marker):
    page.goto(f"{live_server}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.locator("main")).to_contain_text(zh_marker)
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    screenshot(f"dashboard-{username}-zh")

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text(en_marker)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(f"dashboard-{username}-en")

    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()


def test_wrong_password_shows_a_message(page, live_server, demo_data):
    page.goto(f"{live_server}/login")
    page.get_by_label("用户名").fill("officer")
    page.get_by_label("密码").fill("wrong-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
