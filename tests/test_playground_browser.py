"""The playground end to end in a real headless browser (Debian's chromium + chromium-driver).

One browser session walks the whole journey: /start, link the demo key, buy IPv4 by tapping
buttons, the receipt, the downloaded list, the deposit QR, a deposit credited from the panel
and its announcement, time moved to an expiry reminder. Screenshots land in $SCREENSHOTS_DIR
when it is set (that is how docs/playground-*.png were made).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def bubbles(driver: webdriver.Chrome) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#messages .msg")


def until(driver: webdriver.Chrome, check, what: str):
    # Every live update rebuilds the chat, so an element found a moment ago may be gone:
    # such a check simply runs again.
    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        check, what
    )


def wait_text(driver: webdriver.Chrome, fragment: str) -> str:
    """The text of the last chat bubble containing `fragment`, once it shows."""

    def find(d: webdriver.Chrome) -> str | bool:
        found = [b.text for b in bubbles(d) if fragment in b.text]
        return found[-1] if found else False

    try:
        return until(driver, find, f"no message with {fragment!r}")
    except TimeoutException:
        last = [b.text for b in bubbles(driver)][-3:]
        raise AssertionError(f"no message with {fragment!r}; the chat ends with {last}") from None


def tap(driver: webdriver.Chrome, label: str) -> None:
    """Tap the last inline button labelled `label` exactly, or else containing it."""

    def find_and_click(d: webdriver.Chrome) -> bool:
        buttons = d.find_elements(By.CSS_SELECTOR, "#messages .inline-kb button")
        found = [b for b in buttons if b.text == label] or [
            b for b in buttons if label in b.text
        ]
        if not found:
            return False
        found[-1].click()
        return True

    until(driver, find_and_click, f"no button {label!r}")


def say(driver: webdriver.Chrome, text: str) -> None:
    box = driver.find_element(By.ID, "text")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def panel(driver: webdriver.Chrome, button: str, done: str) -> None:
    driver.find_element(By.ID, button).click()
    until(driver, lambda d: done in d.find_element(By.ID, "panel-status").text, f"panel: {done}")


def test_the_whole_storefront_in_a_browser(browser: webdriver.Chrome, tmp_path: Path) -> None:
    with Running(tmp_path / "playground") as pg:
        browser.get(pg.url)
        key = until(browser, lambda d: d.find_element(By.ID, "api-key").text, "no demo key")
        say(browser, "/start")
        wait_text(browser, "API key")
        shot(browser, "start")
        say(browser, key)
        wait_text(browser, "Key linked")

        tap(browser, "Buy proxies")
        tap(browser, "IPv4")
        tap(browser, "United States")
        tap(browser, "1 month")
        tap(browser, "10 · $24.00")  # a preset shows its total
        wait_text(browser, "Your order")
        tap(browser, "Confirm")
        receipt = wait_text(browser, "Order placed")
        assert "$24.00" in receipt
        shot(browser, "receipt")

        tap(browser, "Show credentials")
        tap(browser, "Download")
        tap(browser, "ip:port · HTTP")
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
        wait_text(browser, "Which currency")
        tap(browser, "USDT")
        tap(browser, "TRC")
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

        panel(browser, "panel-deposit", "Deposit credited")
        wait_text(browser, "Deposit received")
        shot(browser, "deposit-received")

        panel(browser, "panel-expiry", "Time moved")
        wait_text(browser, "expire soon")
        shot(browser, "reminder")
