"""API data in the user's language, end to end: a Russian user goes through the whole wizard
of every proxy type, then the order's details and its extend screens, and never sees a
country, period or rotation in the API's English ("Страна: Germany", "Срок: 1 Week").

The screens are told apart by their buttons' callback data, not by words, so the walk is
the same in every language.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

import pytest

from sandbox.seed import CATALOGS, COUNTRIES, ROTATIONS
from services.purchase import FLOWS, QUOTE
from tests.e2e import TIMEOUT

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# What the API calls its countries, periods and rotations: none may reach a Russian screen.
ENGLISH_NAMES = sorted(
    {c.name for c in COUNTRIES.values()}
    | {p.name for catalog in CATALOGS.values() for p in catalog.periods}
    | {r.name for r in ROTATIONS},
    key=len,
    reverse=True,
)
# The steps whose buttons are reference data in words.
NAMED_STEPS = ("country", "period", "rotation")
# Text lines naming them, in Russian.
NAMED_LINES = ("Страна:", "Срок:", "Ротация:")


def _datas(message) -> list[str]:
    return [b.callback_data or "" for b in message.flat_buttons]


def _has(prefix: str):
    return lambda m: any(d.startswith(prefix) for d in _datas(m))


def _picks(message, step: str) -> list:
    return [b for b in message.flat_buttons if (b.callback_data or "").startswith(f"b:set:{step}:")]


def check_russian(message) -> None:
    """No English API name anywhere; every country, period and rotation in Cyrillic."""
    seen = message.text + "\n" + "\n".join(message.button_texts)
    for name in ENGLISH_NAMES:
        assert name not in seen, f"{name!r} in English on a Russian screen:\n{seen}"
    for step in NAMED_STEPS:
        for button in _picks(message, step):
            assert CYRILLIC.search(button.text), f"Latin-only {step} button {button.text!r}"
    for line in message.text.splitlines():
        for head in NAMED_LINES:
            if line.startswith(head):
                assert CYRILLIC.search(line.removeprefix(head)), f"Latin-only line {line!r}"


async def click(chat, message, data: str, until):
    await chat.click(message, data=data)
    shown = await chat.wait_for_message(until, timeout=TIMEOUT)
    check_russian(shown)
    return shown


async def walk_wizard(chat, proxy_type: str, search: str | None = None):
    """/buy → every step of ``proxy_type`` (the first option, or ``search`` for the
    country) → quote → Confirm: the receipt, every screen checked on the way."""
    await chat.send("/buy")
    message = await chat.wait_for_message(_has("b:set:type:"), timeout=TIMEOUT)
    check_russian(message)
    steps = (*FLOWS[proxy_type], QUOTE)
    prefix = "bc:" if steps[0] == QUOTE else f"b:set:{steps[0]}:"
    message = await click(chat, message, f"b:set:type:{proxy_type}", _has(prefix))
    for step, following in itertools.pairwise(steps):
        if step == "country" and search:
            await chat.send(search)
            message = await chat.wait_for_message(_has("b:clear"), timeout=TIMEOUT)
            check_russian(message)
        (first, *_rest) = _picks(message, step)
        prefix = "bc:" if following == QUOTE else f"b:set:{following}:"
        message = await click(chat, message, first.callback_data, _has(prefix))
    (confirm,) = [d for d in _datas(message) if d.startswith("bc:")]
    return await click(chat, message, confirm, _has("o:creds:"))


async def test_the_whole_wizard_in_russian_shows_no_english_api_names(harness):
    chat, _account = await harness.linked_chat(Decimal("1000.00"), language_code="ru")
    for proxy_type in FLOWS:
        receipt = await walk_wizard(chat, proxy_type)
        assert "Заказ оформлен" in receipt.text, receipt.text


async def test_a_russian_search_finds_the_country_and_every_screen_names_it_in_russian(
    harness,
):
    chat, _account = await harness.linked_chat(Decimal("100.00"), language_code="ru")
    await chat.send("/buy")
    message = await chat.wait_for_message(_has("b:set:type:"), timeout=TIMEOUT)
    message = await click(chat, message, "b:set:type:ipv4", _has("b:set:country:"))
    await chat.send("герм")
    found = await chat.wait_for_message(_has("b:clear"), timeout=TIMEOUT)
    assert [b.text for b in _picks(found, "country")] == ["🇩🇪 Германия"]
    check_russian(found)

    receipt = await walk_wizard(chat, "ipv4", search="герм")
    assert "Страна: 🇩🇪 Германия" in receipt.text
    assert "Срок: 1 неделя" in receipt.text

    # The order's screens say the same.
    (view,) = [d for d in _datas(receipt) if d.startswith("o:view:")]
    details = await click(chat, receipt, view, _has("o:ext:"))
    assert "Страна: 🇩🇪 Германия" in details.text and "Срок: 1 неделя" in details.text
    (extend,) = [d for d in _datas(details) if d.startswith("o:ext:")]
    periods = await click(chat, details, extend, _has("oe:"))
    labels = [b.text for b in periods.flat_buttons if (b.callback_data or "").startswith("oe:")]
    # The order's own period (1 week) carries what extending costs.
    assert [label.split(" · ")[0] for label in labels] == [
        "1 неделя", "1 месяц", "3 месяца", "6 месяцев", "1 год",
    ]
    assert labels[0].startswith("1 неделя · $")
    month = next(b.callback_data for b in periods.flat_buttons if b.text.startswith("1 месяц"))
    confirm = await click(chat, periods, month, _has("oy:"))
    assert "+1 месяц" in confirm.text

    await chat.send("/orders")
    listing = await chat.wait_for_message(_has("o:view:"), timeout=TIMEOUT)
    check_russian(listing)
    assert "🇩🇪 Германия" in listing.text


async def test_mobile_rotations_in_russian(harness):
    chat, _account = await harness.linked_chat(Decimal("100.00"), language_code="ru")
    await chat.send("/buy")
    message = await chat.wait_for_message(_has("b:set:type:"), timeout=TIMEOUT)
    message = await click(chat, message, "b:set:type:mobile", _has("b:set:country:"))
    for step, following in (("country", "service"), ("service", "operator"),
                            ("operator", "rotation")):
        message = await click(chat, message, _picks(message, step)[0].callback_data,
                              _has(f"b:set:{following}:"))
    assert [b.text for b in _picks(message, "rotation")] == [
        "По запросу", "Каждые 5 минут", "Каждые 10 минут", "Каждые 30 минут", "Каждый 1 час",
    ]


@pytest.mark.parametrize("query", ["germ", "DE"])
async def test_english_still_works(harness, query):
    chat, _account = await harness.linked_chat(Decimal("100.00"))
    await chat.send("/buy")
    message = await chat.wait_for_message(_has("b:set:type:"), timeout=TIMEOUT)
    await chat.click(message, data="b:set:type:ipv4")
    await chat.wait_for_message(_has("b:set:country:"), timeout=TIMEOUT)
    await chat.send(query)
    found = await chat.wait_for_message(_has("b:clear"), timeout=TIMEOUT)
    germany, *_others = _picks(found, "country")
    assert germany.text == "🇩🇪 Germany"
    await chat.click(found, data=germany.callback_data)
    periods = await chat.wait_for_message(_has("b:set:period:"), timeout=TIMEOUT)
    assert "Country: 🇩🇪 Germany" in periods.text
    assert [b.text.split(" · ")[0] for b in _picks(periods, "period")] == [
        "1 week", "1 month", "3 months", "6 months", "1 year",
    ]
    # A Russian search finds nothing for an English user.
    await chat.click(periods, data="b:back::")
    await chat.wait_for_message(_has("b:set:country:"), timeout=TIMEOUT)
    await chat.send("герм")
    await chat.wait_for_message("No country matches", timeout=TIMEOUT)
