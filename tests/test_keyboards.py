"""Every CallbackData factory, packed with its worst-case values, fits Telegram's 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

CALLBACK_DATA_LIMIT = 64


def assert_fits(data: CallbackData) -> None:
    packed = data.pack()
    assert len(packed.encode()) <= CALLBACK_DATA_LIMIT, (packed, len(packed.encode()))
    assert type(data).unpack(packed) == data


# -- orders screens ------------------------------------------------------------------


def test_orders_callbacks_fit_in_the_worst_case() -> None:
    from keyboards.callbacks import (
        ORDER_ID_MAX,
        CredsCb,
        DownloadCb,
        ExtendCb,
        ExtendConfirmCb,
        OrderCb,
        OrdersCb,
    )
    from services.exports import FORMATS
    from services.orders import STATUS_FILTERS, TYPE_FILTERS

    order_id = "c" * ORDER_ID_MAX
    longest_status = max(STATUS_FILTERS, key=len)
    longest_type = max(TYPE_FILTERS, key=len)
    assert_fits(OrdersCb(page=99_999, status=longest_status, type=longest_type, pick="t"))
    for action in ("view", "creds", "dl", "ext"):
        assert_fits(OrderCb(action=action, order_id=order_id))
    assert_fits(CredsCb(order_id=order_id, proto="s"))
    for fmt in FORMATS:
        assert_fits(DownloadCb(order_id=order_id, fmt=fmt.code))
    assert_fits(ExtendCb(order_id=order_id, period_id=999_999))
    # Operation ids are secrets.token_urlsafe(9): 12 characters.
    assert_fits(ExtendConfirmCb(op_id="x" * 16))


# -- reminders -----------------------------------------------------------------------


def test_reminder_callbacks_fit_in_the_worst_case() -> None:
    from handlers.reminders import one_tap_op_id
    from keyboards.callbacks import ORDER_ID_MAX, ExtendConfirmCb, ReminderCb, ReminderSettingsCb

    biggest = 2**63 - 1  # SQLite's largest rowid; API period ids are int64 at worst
    for action in ("x", "m", "u"):
        assert_fits(ReminderCb(action=action, reminder_id=biggest, period_id=biggest))
    assert_fits(ReminderSettingsCb(action="unmute", value="c" * ORDER_ID_MAX))
    assert_fits(ReminderSettingsCb(action="t", value=str(30 * 86400)))
    # A one-tap extend refused for lack of funds offers "Try again" on its operation.
    assert_fits(ExtendConfirmCb(op_id=one_tap_op_id(biggest)))


# -- purchase wizard -----------------------------------------------------------------


def test_purchase_callbacks_fit_in_the_worst_case() -> None:
    import uuid

    from keyboards.callbacks import BuyCb, ConfirmCb
    from services.purchase import PROXY_TYPES, STEPS

    acts = ("set", "page", "back", "show", "clear", "coupon", "nocoupon", "requote")
    # Values are API ids (int64 at worst), type codes, protocols or page numbers.
    widest_value = str(-(2**63))
    assert len(widest_value) >= max(len(t) for t in PROXY_TYPES)
    for act in acts:
        assert_fits(BuyCb(act=act, step=max(STEPS, key=len), val=widest_value))
    assert_fits(ConfirmCb(op_id=uuid.uuid4().hex))


def _purchase_markups() -> list:
    from decimal import Decimal

    from keyboards.buy import (
        insufficient_keyboard,
        placing_keyboard,
        purchase_failed_keyboard,
        receipt_keyboard,
        screen_keyboard,
    )
    from keyboards.callbacks import ORDER_ID_MAX
    from proxy_api import Reference
    from services.purchase import STEPS, TYPE, QuoteView, Selection, Wizard, WizardStep

    big = 2**63 - 1
    item = {"id": big, "name": "N" * 200}
    reference = Reference.model_validate({
        "countries": [{**item, "code": "DE"}],
        "periods": [{**item, "days": 30}],
        "operators": [item],
        "rotations": [item],
        "tarifs": [{**item, "price": "1.00", "traffic": "1"}],
    })
    op_id = "f" * 32
    quote = QuoteView(op_id=op_id, type="mix_isp", total=Decimal("1"), balance=Decimal("0"))
    sel = Selection(type="mobile", country_id=big, quantity=999_999, coupon="X" * 32)
    markups: list = [
        insufficient_keyboard(op_id),
        placing_keyboard(op_id),
        purchase_failed_keyboard(),
        receipt_keyboard("c" * ORDER_ID_MAX),
        receipt_keyboard("c" * 200),  # too long for buttons: left out, not a crash
    ]
    for step in STEPS:
        wizard = Wizard(step=step, sel=sel, page=10**9, search="s" * 40, op_id=op_id)
        # Enough countries for a pager; the page asked for is past the end (clamped).
        countries = tuple(reference.countries) * 1000 if step != TYPE else ()
        markups.append(screen_keyboard(WizardStep(wizard, reference, countries, quote)))
    return markups


def test_purchase_keyboards_with_huge_ids_fit() -> None:
    from bot.i18n import build_i18n

    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("en"):
        markups = _purchase_markups()
    assert len(markups) > 10
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                data = button.callback_data or ""
                assert len(data.encode()) <= CALLBACK_DATA_LIMIT, data


# -- menus, account, settings, deposits ---------------------------------------------------


def test_core_callbacks_fit_in_the_worst_case() -> None:
    from bot.i18n import LANGUAGES
    from keyboards.account import TX_KINDS
    from keyboards.callbacks import CancelCb, DepositCb, MenuCb, SettingsCb, TxPageCb
    from proxy_api import DEPOSIT_CURRENCIES

    actions = ("buy", "orders", "balance", "tx", "deposit", "settings", "help", "home", "link")
    for action in actions:
        assert_fits(MenuCb(action=action))
    assert_fits(TxPageCb(page=999_999, kind=max(TX_KINDS, key=len)))
    assert_fits(SettingsCb(action="logout_yes", value=max(LANGUAGES, key=len)))
    assert_fits(CancelCb(where="buy"))
    assert_fits(DepositCb(currency=len(DEPOSIT_CURRENCIES) - 1))


def test_deposit_screen_callbacks_fit_in_the_worst_case() -> None:
    from keyboards.callbacks import DepositMenuCb
    from services.deposits import ASSETS

    for screen in ("top", "coins", "net", "how"):
        assert_fits(DepositMenuCb(screen=screen, asset=len(ASSETS) - 1))
    # Forged or outdated: the handlers refuse them, the data still has to round-trip.
    assert_fits(DepositMenuCb(screen="coins", asset=-(2**63)))


# -- top up and back ---------------------------------------------------------------------


def test_top_up_callbacks_fit_in_the_worst_case() -> None:
    import uuid

    from handlers.reminders import one_tap_op_id
    from keyboards.callbacks import TopUpCb
    from keyboards.topup import KINDS

    # Order operations are uuid4 hex (32), extends token_urlsafe(9) or a reminder's rm<id>.
    longest = max(uuid.uuid4().hex, one_tap_op_id(2**63 - 1), "x" * 16, key=len)
    for action in ("t", "b"):
        for kind in KINDS:
            assert_fits(TopUpCb(action=action, kind=kind, op_id=longest))


# -- groups: linking a key -------------------------------------------------------------------


def test_group_link_callbacks_fit_in_the_worst_case() -> None:
    import secrets

    from keyboards.callbacks import GroupLinkCb, GroupUnlinkCb

    # Invitation tokens are secrets.token_urlsafe(16): 22 characters; checked with room.
    assert len(secrets.token_urlsafe(16)) == 22
    assert_fits(GroupLinkCb(action="own", token="T" * 48))
    for action in ("yes", "no"):
        assert_fits(GroupUnlinkCb(action=action))


def test_group_link_keyboards_fit() -> None:
    from bot.i18n import build_i18n
    from keyboards.groups import choose_key_keyboard, invitation_keyboard, unlink_confirm_keyboard

    i18n = build_i18n()
    with i18n.context(), i18n.use_locale("ru"):
        markups = [
            invitation_keyboard("https://t.me/" + "b" * 32 + "?start=g_" + "T" * 62),
            choose_key_keyboard("T" * 48, has_own_key=True),
            choose_key_keyboard("T" * 48, has_own_key=False),
            unlink_confirm_keyboard(),
        ]
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert button.text
                assert len((button.callback_data or "").encode()) <= CALLBACK_DATA_LIMIT


# -- groups: member requests ------------------------------------------------------------------


def test_group_request_callbacks_fit_in_the_worst_case() -> None:
    import secrets
    import uuid

    from keyboards.callbacks import AskApprovalCb, GroupRequestCb

    # Quotes are uuid4 hex (32); request ids secrets.token_hex(8) (16), checked with room.
    assert len(secrets.token_hex(8)) == 16
    assert_fits(AskApprovalCb(op_id=uuid.uuid4().hex))
    for action in ("a", "d"):
        assert_fits(GroupRequestCb(action=action, request_id="r" * 48))


def test_group_request_keyboards_fit() -> None:
    from decimal import Decimal

    from bot.i18n import build_i18n
    from keyboards.buy import quote_keyboard, screen_keyboard, typing_reply_markup
    from keyboards.requests import (
        request_done_keyboard,
        request_keyboard,
        request_pending_keyboard,
    )
    from services.purchase import COUNTRY, COUPON, QUANTITY, QUOTE, QuoteView, Wizard, WizardStep

    i18n = build_i18n()
    quote = QuoteView(op_id="f" * 32, type="mix_isp", total=Decimal("999999999.99"),
                      balance=Decimal("0"), coupon="X" * 32)
    for language in ("en", "ru"):
        with i18n.context(), i18n.use_locale(language):
            markups = [
                request_keyboard("r" * 48),
                request_pending_keyboard("r" * 48),
                request_done_keyboard(),
                quote_keyboard(quote, requester=True),
                screen_keyboard(WizardStep(Wizard(step=QUOTE, op_id=quote.op_id), quote=quote),
                                requester=True),
            ]
            for step in (QUANTITY, COUNTRY, COUPON):
                # Telegram cuts the reply box's placeholder at 64 characters.
                placeholder = typing_reply_markup(step).input_field_placeholder or ""
                assert 0 < len(placeholder) <= 64
        for markup in markups:
            for row in markup.inline_keyboard:
                for button in row:
                    assert button.text
                    assert len((button.callback_data or "").encode()) <= CALLBACK_DATA_LIMIT
        # The member's quote asks for approval; it never carries Confirm.
        texts = [b.callback_data or "" for row in markups[3].inline_keyboard for b in row]
        assert any(t.startswith("rq:") for t in texts)
        assert not any(t.startswith("bc:") for t in texts)


def test_every_factory_is_checked_here() -> None:
    import inspect
    from pathlib import Path

    import keyboards.callbacks as module

    source = Path(__file__).read_text()
    factories = [
        name for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, CallbackData) and obj is not CallbackData
    ]
    unchecked = [name for name in factories if f"assert_fits({name}(" not in source]
    assert not unchecked, f"add a worst case for {unchecked}"
