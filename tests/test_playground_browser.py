"""The playground end to end in a real headless browser (Debian's chromium + chromium-driver).

One browser session walks the whole journey: /start, link the demo key, buy IPv4 by tapping
buttons, the receipt, the downloaded list, the deposit QR, a deposit credited from the panel
and its announcement, time moved to an expiry reminder; then the demo team: the owner links
its key through the deep link the page opens, Mila asks for a purchase, the owner approves.
Screenshots land in $SCREENSHOTS_DIR when it is set (that is how docs/playground-*.png were
made).

No expected text is written out here in English alone: a message is matched against the
bot's own catalogue entry (which must exist, so a reworded text fails by name, not by a
timeout or a looser match), buttons are tapped by the callback data the bot's keyboards
pack, and the page's own controls by their ids and data attributes.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, LOCALES_DIR, build_i18n
from keyboards.callbacks import (
    AskApprovalCb,
    BuyCb,
    ConfirmCb,
    DepositCb,
    DepositMenuCb,
    GroupLinkCb,
    GroupRequestCb,
    MenuCb,
    OrderCb,
)
from playground.app import Playground

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "browser tests need chromium: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 20


class Running:
    """The playground on its own event loop in a thread, as `make run` would serve it."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.pg = Playground(data_dir=data_dir, port=0)

    def __enter__(self) -> Playground:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.pg.start(), self.loop).result(60)
        return self.pg

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.pg.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=800,900"):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path / "downloads")}
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"playground-{name}.png"))


# -- what the bot says, from its catalogue ----------------------------------------------------


@cache
def _catalogue() -> tuple[object, set[str]]:
    with (LOCALES_DIR / "ru" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        entries = read_po(fh, domain=DOMAIN)
    return build_i18n(), {m.id for m in entries if isinstance(m.id, str)}


def said(msgid: str) -> re.Pattern[str]:
    """The shown text of the bot's message `msgid` in English, as a pattern: markup dropped,
    each {placeholder} any text. `msgid` must be in the catalogue."""
    i18n, known = _catalogue()
    assert msgid in known, f"not in the bot's catalogue (reworded?): {msgid!r}"
    english = i18n.gettext(msgid, locale="en")  # type: ignore[attr-defined]
    shown = html.unescape(re.sub(r"<[^>]+>", "", english))
    pieces = re.split(r"\{[^{}]*\}", shown)
    return re.compile("(.+?)".join(re.escape(piece) for piece in pieces), re.DOTALL)


WELCOME = said("👋 Hi, {name}! I sell 1001Proxy proxies right here in Telegram.")
KEY_LINKED = said("✅ Key linked to <b>{email}</b>.\nBalance: <b>{balance}</b>")
QUOTE = said("🧾 <b>Your order</b>")
RECEIPT = said("✅ <b>Order placed!</b>")
DEPOSIT = said(
    "➕ <b>Top up your balance</b>\n\nWhich currency will you send? Stablecoins are here; "
    "Bitcoin and the rest are under “Other coins”."
)
DEPOSIT_RECEIVED = said("💰 Deposit received: <b>{amount}</b> ({currency}).")
REMINDER = said("⏰ <b>Your proxies expire soon.</b>")
INVITATION = said(
    "🔑 {name}, tap the button to link this group's 1001Proxy key in a private chat with me. "
    "Never paste a key here.\nThe button works once, for the group's admins, for {minutes} "
    "minutes."
)
CHOOSE_KEY = said("🔗 <b>Link a 1001Proxy key to {title}</b>")
GROUP_LINKED = said("✅ The account <b>{email}</b> is now linked to <b>{title}</b>.")
ANNOUNCED = said("🔗 {name} linked the account {email}. /buy, /orders and /balance work here now.")
REQUEST_SENT = said(
    "📨 <b>Request sent.</b> The group's admins see it in this chat; you will be mentioned "
    "when one of them approves or declines it."
)
REQUEST = said("📨 <b>Purchase request</b>")
APPROVED = said("✅ <b>Request approved</b> by {admin}")
PLACED_FOR = said("{who}, your order is placed.")


def packed(data: object) -> str:
    """A keyboard's callback data; with an empty last field, the prefix of every such tap."""
    return data.pack()  # type: ignore[attr-defined]


# -- the page ---------------------------------------------------------------------------------


def bubbles(driver: webdriver.Chrome) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#messages .msg")


def until(driver: webdriver.Chrome, check, what: str):
    # Every live update rebuilds the chat, so an element found a moment ago may be gone:
    # such a check simply runs again.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        check, what
    )


def texts(driver: webdriver.Chrome) -> list[str]:
    """Each bubble's message text exactly as rendered (no buttons, no "edited" mark)."""
    return [
        b.find_element(By.CSS_SELECTOR, ".text").get_attribute("textContent") or ""
        for b in bubbles(driver)
    ]


def wait_text(driver: webdriver.Chrome, expected: re.Pattern[str]) -> str:
    """The text of the last chat bubble showing `expected`, once it shows."""

    def find(d: webdriver.Chrome) -> str | bool:
        found = [t for t in texts(d) if expected.search(t)]
        return found[-1] if found else False

    try:
        return until(driver, find, f"no message like {expected.pattern!r}")
    except TimeoutException:
        last = texts(driver)[-3:]
        raise AssertionError(
            f"no message like {expected.pattern!r}; the chat ends with {last}"
        ) from None


def tap(driver: webdriver.Chrome, data: str, *, suffix: str = "") -> None:
    """Tap the newest inline button whose callback data starts with `data` (and ends with
    `suffix`): exactly `data` when such a button is there."""

    def find_and_click(d: webdriver.Chrome) -> bool:
        buttons = d.find_elements(By.CSS_SELECTOR, "#messages .inline-kb button[data-callback]")
        values = [(b, b.get_attribute("data-callback") or "") for b in buttons]
        found = [b for b, v in values if v == data] or [
            b for b, v in values if v.startswith(data) and v.endswith(suffix)
        ]
        if not found:
            return False
        found[-1].click()
        return True

    until(driver, find_and_click, f"no button with data {data!r}…{suffix!r}")


def open_bot_link(driver: webdriver.Chrome) -> str:
    """Follow the newest t.me link button to the bot, as a Telegram app opens it."""

    def find_and_click(d: webdriver.Chrome) -> str | bool:
        links = d.find_elements(By.CSS_SELECTOR, "#messages .inline-kb a[data-url]")
        if not links:
            return False
        url = links[-1].get_attribute("data-url") or ""
        links[-1].click()
        return url

    return until(driver, find_and_click, "no link to the bot")


def say(driver: webdriver.Chrome, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def switch(driver: webdriver.Chrome, view: str) -> None:
    """The chat switch at the top: private, group-admin (you) or group-member (Mila)."""
    driver.find_element(By.CSS_SELECTOR, f'.views button[data-view="{view}"]').click()
    until(
        driver,
        lambda d: "active" in (d.find_element(
            By.CSS_SELECTOR, f'.views button[data-view="{view}"]').get_attribute("class") or ""),
        f"view {view} not active",
    )


def panel(driver: webdriver.Chrome, button: str) -> None:
    driver.find_element(By.ID, button).click()
    until(
        driver,
        lambda d: d.find_element(By.ID, "panel-status").get_attribute("data-done") == button,
        f"panel: {button} never finished",
    )


def test_the_whole_storefront_in_a_browser(browser: webdriver.Chrome, tmp_path: Path) -> None:
    with Running(tmp_path / "playground") as pg:
        browser.get(pg.url)
        key = until(browser, lambda d: d.find_element(By.ID, "api-key").text, "no demo key")
        say(browser, "/start")
        wait_text(browser, WELCOME)
        shot(browser, "start")
        say(browser, key)
        wait_text(browser, KEY_LINKED)

        tap(browser, packed(MenuCb(action="buy")))
        tap(browser, packed(BuyCb(act="set", step="type", val="ipv4")))
        tap(browser, packed(BuyCb(act="set", step="country", val="1")))  # the United States
        tap(browser, packed(BuyCb(act="set", step="period", val="2")))  # a month
        tap(browser, packed(BuyCb(act="set", step="quantity", val="10")))
        wait_text(browser, QUOTE)
        tap(browser, packed(ConfirmCb(op_id="")))
        receipt = wait_text(browser, RECEIPT)
        assert "$24.00" in receipt
        shot(browser, "receipt")

        tap(browser, packed(OrderCb(action="creds", order_id="")))
        tap(browser, packed(OrderCb(action="dl", order_id="")))
        tap(browser, "od:", suffix=":ih")  # ip:port, HTTP
        href = until(
            browser,
            lambda d: [a.get_attribute("href") for a in d.find_elements(
                By.CSS_SELECTOR, "#messages a.document")][-1:],
            "no document",
        )[0]
        listing = browser.execute_async_script(
            "const done = arguments[1];"
            "fetch(arguments[0]).then(r => r.text()).then(done);",
            href,
        )
        assert len(listing.strip().splitlines()) == 10

        say(browser, "/deposit")
        wait_text(browser, DEPOSIT)
        tap(browser, packed(DepositMenuCb(screen="net", asset=0)))  # USDT
        tap(browser, packed(DepositCb(currency=0)))  # on TRON
        image = until(
            browser,
            lambda d: [
                i for i in d.find_elements(By.CSS_SELECTOR, "#messages .msg img")
                if d.execute_script("return arguments[0].naturalWidth", i) > 0
            ],
            "no QR photo",
        )
        assert image
        shot(browser, "deposit")

        panel(browser, "panel-deposit")
        wait_text(browser, DEPOSIT_RECEIVED)
        shot(browser, "deposit-received")

        panel(browser, "panel-expiry")
        wait_text(browser, REMINDER)
        shot(browser, "reminder")

        # The demo team: you (its owner) link its key through the page's deep link.
        switch(browser, "group-admin")
        say(browser, "/link")
        wait_text(browser, INVITATION)
        url = open_bot_link(browser)
        assert pg.tg is not None and url.startswith(f"https://t.me/{pg.tg.bot_username}?start=")
        # The link opened your private chat with the bot, as a Telegram app does.
        until(browser, lambda d: d.find_element(
            By.CSS_SELECTOR, ".views button.active").get_attribute("data-view") == "private",
            "the link did not open the private chat")
        wait_text(browser, CHOOSE_KEY)
        tap(browser, packed(GroupLinkCb(action="own", token="")))  # the key linked here
        wait_text(browser, GROUP_LINKED)
        switch(browser, "group-admin")
        announced = wait_text(browser, ANNOUNCED)
        assert key not in announced

        # Mila, a plain member, asks for a purchase; the owner approves it.
        switch(browser, "group-member")
        say(browser, "/buy")
        tap(browser, packed(BuyCb(act="set", step="type", val="ipv4")))
        tap(browser, packed(BuyCb(act="set", step="country", val="1")))
        tap(browser, packed(BuyCb(act="set", step="period", val="2")))
        tap(browser, packed(BuyCb(act="set", step="quantity", val="10")))
        wait_text(browser, QUOTE)
        assert not browser.find_elements(
            By.CSS_SELECTOR, f'#messages button[data-callback^="{packed(ConfirmCb(op_id=""))}"]'
        ), "a member was offered Confirm"
        tap(browser, packed(AskApprovalCb(op_id="")))
        wait_text(browser, REQUEST_SENT)
        shot(browser, "group-request")

        switch(browser, "group-admin")
        wait_text(browser, REQUEST)
        tap(browser, packed(GroupRequestCb(action="a", request_id="")))
        approved = wait_text(browser, APPROVED)
        assert PLACED_FOR.search(approved) and "$24.00" in approved
        shot(browser, "group-approved")
        assert pg.sandbox is not None and len(pg.sandbox.state.orders) == 2

        # Reset starts over: the page reloads into a fresh world with a new demo key.
        browser.find_element(By.ID, "panel-reset").click()
        fresh = until(
            browser,
            lambda d: (d.find_element(By.ID, "api-key").text or key) != key
            and d.find_element(By.ID, "api-key").text,
            "the page did not start over",
        )
        assert fresh.startswith("pk_") and not bubbles(browser)
        say(browser, "/start")
        wait_text(browser, WELCOME)
