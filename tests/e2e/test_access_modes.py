"""The same key pages in the other ways people meet them (issue 10, item 1): in Chinese and in English, on a phone,
and with the keyboard alone.

The starting state is an open tender of 郑州市民政局 published through the models the day before (publishing in
the browser is walked by test_tender_journeys and test_full_journeys), on the travelled clock of journey_support.

- Language: the tender page and the bid form read in Chinese by default, with no untranslated English word left
  (nor a raw msgid); the language switch in the navbar turns their headings and buttons into English and back.
- Phone (390 x 844, a touch screen): the navbar collapses behind its toggler and opens; the board, the tender
  page and the bid form fit the width (no horizontal scrolling), and a bid is sealed from the phone.
- Keyboard: the bid form is walked with Tab in its visual order, every focused control shows its focus; a
  submission with nothing filled in marks the fields invalid (aria-invalid) and describes each with an alert;
  the bid is then typed, attached, ticked with Space and sent with Enter.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from portal.accounts.models import Organisation
from portal.extensions import db
from tests.e2e.journey_support import START, expect_flash, sign_in, snap, submit
from tests.tender_factories import make_published_tender

TITLE = "社区困难老年人居家探访服务采购"
PHONE = {"width": 390, "height": 844}
# Latin words a Chinese page may show: the language switch's own name, file formats and hash names, times in UTC.
LATIN_ALLOWED = {"English", "PDF", "SHA", "UTC", "DOCX", "DOC", "Word", "ZIP"}
BID_FIELDS = ("price", "technical", "qualification", "meets_requirements", "no_collusion")


@pytest.fixture
def tender_id(cast, clock) -> int:
    """An open tender of 郑州市民政局, published yesterday, bids due in 20 days."""
    bureau = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    tender = make_published_tender(bureau, deadline=START + timedelta(days=20), title=TITLE,
                                   published_at=START - timedelta(days=1))
    tender_id = tender.id
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    return tender_id


def latin_words(page: Page, *known: str) -> list[str]:
    """The Latin words of the navbar and the main part once the page's own data (references, ...) is taken out."""
    text = page.locator("nav.navbar").inner_text() + "\n" + page.locator("main").inner_text()
    for token in known:
        text = text.replace(token, " ")
    text = re.sub(r"\b[0-9A-Z]+(?:-[0-9A-Z]+)+\b", " ", text)  # references such as T-1A2B3C or ZZ-2026-00001
    return [word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in LATIN_ALLOWED]


def headings_and_buttons(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("main h1, main h2, main button[type=submit]").all_inner_texts()]


def switch_language(page: Page, label: str, lang: str) -> None:
    submit(page, page.locator("nav.navbar").get_by_role("button", name=label, exact=True))
    expect(page.locator("html")).to_have_attribute("lang", lang)


def no_horizontal_scrolling(page: Page) -> None:
    """The page is no wider than the screen; if it is, the message names the elements that stick out."""
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate("""(limit) => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > limit + 0.5)
            .slice(0, 8)
            .map(el => `${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${el.getBoundingClientRect().right}`)""",
                             PHONE["width"])
        pytest.fail(f"{page.url}: {width}px wide on a {PHONE['width']}px screen: {wide}")


def phone(browser: Browser, live_server: str):
    context = browser.new_context(base_url=live_server, viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    return context, context.new_page()


def focused(page: Page) -> dict:
    """What has the focus: its id, whether it shows a focus ring, and where it is on the page."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return {id: el.id, tag: el.tagName.toLowerCase(), type: el.type || '',
                ring: el.matches(':focus-visible') && (style.outlineStyle !== 'none' || style.boxShadow !== 'none'),
                top: box.top + window.scrollY};
    }""")


def tab_to(page: Page, element_id: str, limit: int = 80) -> None:
    """Press Tab from the top of the page until ``element_id`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page)["id"] == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


# --- Chinese and English ---------------------------------------------------------------------------------------


def test_tender_page_and_bid_form_in_chinese_and_in_english(people, tender_id):
    ngo = people("ngo1")
    pages = {"tender": f"/tenders/{tender_id}", "bid": f"/tenders/{tender_id}/bid"}
    chinese: dict[str, list[str]] = {}
    for name, url in pages.items():
        ngo.goto(url)
        expect(ngo.locator("html")).to_have_attribute("lang", "zh-CN")
        leftovers = latin_words(ngo, TITLE)
        assert not leftovers, f"{url}: untranslated words on the Chinese page: {leftovers}"
        chinese[name] = headings_and_buttons(ngo)
        assert all(re.search(r"[\u4e00-\u9fff]", text) for text in chinese[name]), chinese[name]
        snap(ngo, f"access-{name}-zh")

    switch_language(ngo, "English", "en")
    for name, url in pages.items():
        ngo.goto(url)
        expect(ngo.locator("html")).to_have_attribute("lang", "en")
        english = headings_and_buttons(ngo)
        assert len(english) == len(chinese[name]), (english, chinese[name])
        for zh, en in zip(chinese[name], english, strict=True):
            if TITLE in zh:  # the tender's title is data: it stays as it was written
                assert TITLE in en
                continue
            assert zh != en and re.search(r"[A-Za-z]{2,}", en), (zh, en)
        snap(ngo, f"access-{name}-en")
    expect(ngo.locator("main button[type=submit]").last).to_have_text("Seal and submit")

    switch_language(ngo, "中文", "zh-CN")
    expect(ngo.locator("main button[type=submit]").last).not_to_have_text("Seal and submit")
    assert headings_and_buttons(ngo) == chinese["bid"]


# --- A phone ---------------------------------------------------------------------------------------------------


def test_board_tender_and_bid_form_fit_a_phone(browser, live_server, tender_id, files):
    context, page = phone(browser, live_server)
    try:
        page.goto("/notices")
        toggler = page.locator("nav.navbar .navbar-toggler")
        menu = page.locator("nav.navbar #nav")
        expect(toggler).to_be_visible()
        expect(menu).to_be_hidden()  # collapsed
        no_horizontal_scrolling(page)
        expect(page.locator("main table a[href^='/notices/']").first).to_be_visible()
        snap(page, "access-phone-board")
        toggler.tap()
        expect(menu).to_be_visible()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        expect(menu.get_by_role("link", name=re.compile("登录"))).to_be_visible()
        snap(page, "access-phone-menu")
        toggler.tap()
        expect(menu).to_be_hidden()

        sign_in(page, "ngo1")
        no_horizontal_scrolling(page)
        page.goto(f"/tenders/{tender_id}")
        expect(page.locator("main h1")).to_have_text(TITLE)
        no_horizontal_scrolling(page)
        snap(page, "access-phone-tender")
        page.locator(f"main a[href='/tenders/{tender_id}/bid']").tap()
        expect(page).to_have_url(re.compile(rf"/tenders/{tender_id}/bid$"))
        no_horizontal_scrolling(page)
        technical, qualification = files
        page.fill("#price", "456000.00")
        page.set_input_files("#technical", str(technical))
        page.set_input_files("#qualification", str(qualification))
        page.locator("#meets_requirements").tap()
        page.locator("#no_collusion").tap()
        snap(page, "access-phone-bid-form")
        with page.expect_navigation():
            page.locator(f"main form[action='/tenders/{tender_id}/bid'] button[type=submit]").tap()
        expect_flash(page)
        no_horizontal_scrolling(page)
        expect(page.locator("main dl code.text-break").first).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
        snap(page, "access-phone-bid-sealed")
    finally:
        context.close()


# --- The keyboard alone ----------------------------------------------------------------------------------------


def test_bid_form_with_the_keyboard_alone(people, tender_id, files):
    ngo = people("ngo1")
    ngo.goto(f"/tenders/{tender_id}/bid")
    action = f"/tenders/{tender_id}/bid"

    # Tab reaches every field in the order they are shown, each with a visible focus, then the button.
    tab_to(ngo, BID_FIELDS[0])
    stops = [focused(ngo)]
    for _ in BID_FIELDS[1:]:
        ngo.keyboard.press("Tab")
        stops.append(focused(ngo))
    ngo.keyboard.press("Tab")
    button = focused(ngo)
    assert [stop["id"] for stop in stops] == list(BID_FIELDS), stops
    assert button["tag"] == "button" and button["type"] == "submit", button
    tops = [stop["top"] for stop in [*stops, button]]
    assert tops == sorted(tops), tops  # the focus moves down the page as the fields are laid out
    assert all(stop["ring"] for stop in [*stops, button]), [*stops, button]

    # Sent empty with Enter: every field is marked invalid and described by an alert saying why.
    with ngo.expect_navigation():
        ngo.keyboard.press("Enter")
    for field_id in BID_FIELDS:
        control = ngo.locator(f"#{field_id}")
        expect(control).to_have_attribute("aria-invalid", "true")
        described = control.get_attribute("aria-describedby") or ""
        alert = ngo.locator(f"#{field_id}-error")
        assert f"{field_id}-error" in described.split(), (field_id, described)
        expect(alert).to_have_attribute("role", "alert")
        expect(alert).not_to_be_empty()
    snap(ngo, "access-keyboard-errors")

    # Now the bid, with the keyboard: type the price, attach the files to the focused inputs, tick with Space.
    technical, qualification = files
    tab_to(ngo, "price")
    ngo.keyboard.type("456000.00")
    ngo.keyboard.press("Tab")
    assert focused(ngo)["id"] == "technical"
    ngo.locator(":focus").set_input_files(str(technical))
    ngo.keyboard.press("Tab")
    assert focused(ngo)["id"] == "qualification"
    ngo.locator(":focus").set_input_files(str(qualification))
    for field_id in ("meets_requirements", "no_collusion"):
        ngo.keyboard.press("Tab")
        assert focused(ngo)["id"] == field_id
        ngo.keyboard.press("Space")
        expect(ngo.locator(f"#{field_id}")).to_be_checked()
    ngo.keyboard.press("Tab")
    assert focused(ngo)["tag"] == "button"
    with ngo.expect_navigation():
        ngo.keyboard.press("Enter")
    expect_flash(ngo)
    expect(ngo.locator(f"main form[action='{action}']")).to_be_visible()  # the form now replaces the live bid
    expect(ngo.locator("main dl code.text-break").first).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    snap(ngo, "access-keyboard-sealed")
