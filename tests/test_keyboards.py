"""Every CallbackData factory, packed with its worst-case values, fits Telegram's 64 bytes;
every button label fits a phone (24 characters) in every language."""

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
    assert_fits(CredsCb(order_id=order_id, proto="s", lines=1))
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
        texts = [b.callback_data or "" for row in markups[2].inline_keyboard for b in row]
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


# -- labels fit a phone -------------------------------------------------------------------
#
# A phone shows about 24 characters of a button in a row of two; a longer label is cut
# ("user:pass@ip:port · SOC…"). Every keyboard factory is built below with the longest
# values it meets in practice — the sandbox's whole reference data, six-figure prices,
# four-digit quantities and page numbers, every status and type — and with API names far
# longer than any real one (those are shortened with "…"), in every language.

CHOSEN_ALL = ("country", "service", "operator", "rotation", "period", "quantity", "protocol",
              "tarif")


def _sandbox_references() -> dict:
    from proxy_api import Reference
    from sandbox.seed import CATALOGS

    return {
        proxy_type: Reference.model_validate({
            "countries": [{"id": c.id, "name": c.name} for c in catalog.countries],
            "periods": [{"id": p.id, "name": p.name, "days": p.days} for p in catalog.periods],
            "operators": [{"id": o.id, "name": o.name} for o in catalog.operators],
            "rotations": [{"id": r.id, "name": r.name} for r in catalog.rotations],
            "tarifs": [
                {"id": t.id, "name": t.name, "price": str(t.price), "traffic": t.traffic_gb}
                for t in catalog.tarifs
            ],
        })
        for proxy_type, catalog in CATALOGS.items()
    }


def _long_reference():
    from proxy_api import Reference

    long = "Lorem ipsum dolor sit amet consectetur " * 3
    return Reference.model_validate({
        "countries": [
            {"id": 1, "name": long},
            {"id": 2, "name": "South Georgia & South Sandwich Islands"},
            {"id": 3, "name": "Saint Vincent and the Grenadines"},
        ],
        "periods": [
            {"id": 1, "name": long, "days": None},
            {"id": 2, "name": "x", "days": 330},
            {"id": 3, "name": "x", "days": 3650},
            {"id": 4, "name": "x", "days": 364},
        ],
        "operators": [{"id": 1, "name": long}],
        "rotations": [{"id": 1, "name": long}, {"id": 2, "name": "Every 1440 min"},
                      {"id": 3, "name": "Every 59 min"}],
        "tarifs": [{"id": 1, "name": long, "price": "99999.99", "traffic": "1000"},
                   {"id": 2, "name": long}],
    })


def _wizard_markups() -> list:
    from decimal import Decimal

    from keyboards.buy import (
        coupon_prompt_keyboard,
        insufficient_keyboard,
        not_placed_keyboard,
        placing_keyboard,
        purchase_failed_keyboard,
        quote_keyboard,
        receipt_keyboard,
        screen_keyboard,
        unresolved_keyboard,
    )
    from keyboards.callbacks import ORDER_ID_MAX
    from services.purchase import (
        FLOWS,
        MAX_QUANTITY,
        SERVICE_TYPES,
        TYPE,
        QuoteView,
        Selection,
        Wizard,
        WizardStep,
    )

    op_id = "f" * 32
    markups: list = []
    references = _sandbox_references()
    for proxy_type, reference in [*references.items(), ("mobile", _long_reference())]:
        steps = FLOWS[proxy_type]
        for step in (TYPE, *steps):
            options = {
                "country": [c.id for c in reference.countries],
                "service": list(SERVICE_TYPES),
                "operator": [o.id for o in reference.operators],
                "rotation": [r.id for r in reference.rotations],
                "period": [p.id for p in reference.periods],
                "quantity": [1, MAX_QUANTITY],
                "protocol": ["HTTPS", "SOCKS5"],
                "tarif": [t.id for t in reference.tarifs],
            }.get(step, [proxy_type])
            for value in [None, *options]:  # nothing chosen yet, then each choice ✅
                sel = Selection(type=proxy_type)
                field = {"country": "country_id", "operator": "operator_id",
                         "rotation": "rotation_id", "period": "period_id",
                         "tarif": "tarif_id"}.get(step, step)
                if value is not None and step != TYPE:
                    setattr(sel, field, value)
                for search in ("", "s" * 40):
                    wizard = Wizard(step=step, sel=sel, search=search, page=10**6)
                    countries = tuple(reference.countries) * 400  # a pager of 1000 pages
                    markups.append(screen_keyboard(WizardStep(wizard, reference, countries)))
        for affordable in (True, False):
            for coupon in (None, "SAVE10"):
                quote = QuoteView(
                    op_id=op_id, type=proxy_type, total=Decimal("99999.99"),
                    balance=Decimal("100000") if affordable else Decimal("0"), coupon=coupon,
                )
                markups.append(quote_keyboard(quote))
    markups += [
        coupon_prompt_keyboard(),
        insufficient_keyboard(op_id),
        not_placed_keyboard(op_id),
        placing_keyboard(op_id),
        purchase_failed_keyboard(),
        receipt_keyboard("c" * ORDER_ID_MAX),
        unresolved_keyboard(op_id),
    ]
    return markups


def _orders_markups() -> list:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from keyboards.callbacks import ORDER_ID_MAX, OrdersCb
    from keyboards.orders import (
        back_to_order_keyboard,
        big_credentials_keyboard,
        credentials_keyboard,
        download_keyboard,
        extend_confirm_keyboard,
        extend_done_keyboard,
        extend_failed_keyboard,
        extend_periods_keyboard,
        extend_unclear_keyboard,
        order_details_keyboard,
        orders_list_keyboard,
        type_picker_keyboard,
    )
    from proxy_api import Country, InsufficientFunds, OrderDetails, Protocol, ServerError
    from services.orders import (
        STATUS_FILTERS,
        TYPE_FILTERS,
        ExtendFailed,
        ExtendQuote,
        OrderInfo,
        OrderRow,
        OrdersPage,
    )

    now = datetime(2030, 1, 1, tzinfo=UTC)
    order_id = "c" * ORDER_ID_MAX
    countries = [
        Country(id=1, name="United Kingdom"),
        Country(id=2, name="Lorem ipsum dolor sit amet " * 4),
        None,
    ]
    def details(proxy_type: str, status: str, expires: timedelta) -> OrderDetails:
        return OrderDetails.model_validate({
            "id": order_id, "type": proxy_type, "status": status,
            "quantity": 1000, "chargedAmount": "99999.99", "countryId": 1,
            "periodId": 1, "createdAt": now.isoformat(),
            "expiresAt": (now + expires).isoformat(),
        })

    markups: list = []
    for proxy_type in TYPE_FILTERS:
        for status in STATUS_FILTERS:
            for expires in (timedelta(days=3650), timedelta(hours=23), -timedelta(days=1)):
                order = details(proxy_type, status, expires)
                rows = [OrderRow(order, country) for country in countries]
                page = OrdersPage(rows * 2, 9999, 9999, 99999, status, proxy_type)
                markups.append(orders_list_keyboard(page, now))
                for country in countries:
                    info = OrderInfo(order, country, None)
                    back = OrdersCb(page=9999, status=status, type=proxy_type)
                    markups.append(order_details_keyboard(info, back))
        markups.append(type_picker_keyboard("", proxy_type))
    markups.append(type_picker_keyboard("", ""))
    for protocol in Protocol:
        markups.append(credentials_keyboard(order_id, protocol))
        for listed in (False, True):
            markups.append(big_credentials_keyboard(order_id, protocol, listed))
    markups.append(download_keyboard(order_id))
    active = details("mobile", "active", timedelta(days=1))
    for reference in [*_sandbox_references().values(), _long_reference()]:
        markups.append(extend_periods_keyboard(order_id, reference.periods))
        for period in reference.periods:
            info = OrderInfo(active, None, period)
            quote = ExtendQuote("x" * 16, info, period, Decimal("99999.99"))
            markups.append(extend_confirm_keyboard(quote))
    for cause in (InsufficientFunds("no money"), ServerError("down")):
        markups.append(extend_failed_keyboard(ExtendFailed(order_id, "x" * 16, cause)))
    markups += [
        extend_done_keyboard(order_id),
        extend_unclear_keyboard("x" * 16, order_id),
        back_to_order_keyboard(order_id),
    ]
    return markups


def _other_markups() -> list:
    from datetime import timedelta
    from decimal import Decimal

    from bot.i18n import LANGUAGES
    from keyboards.account import (
        TX_KINDS,
        balance_keyboard,
        language_keyboard,
        link_help_keyboard,
        logout_confirm_keyboard,
        settings_keyboard,
        transactions_keyboard,
    )
    from keyboards.callbacks import ORDER_ID_MAX
    from keyboards.common import dashboard_menu, key_prompt, main_menu, only_cancel, only_home
    from keyboards.deposit import (
        address_keyboard,
        assets_keyboard,
        coins_keyboard,
        how_keyboard,
        networks_keyboard,
    )
    from keyboards.reminders import (
        OFFSET_PRESETS,
        muted_keyboard,
        muted_orders_keyboard,
        reminder_keyboard,
        reminder_settings_keyboard,
    )
    from keyboards.topup import KIND_CODES, arrival_keyboard
    from services.deposits import ASSETS, networks_of

    order_id = "c" * ORDER_ID_MAX
    markups: list = [
        main_menu(True),
        main_menu(False),
        dashboard_menu(True, "https://t.me/support"),
        dashboard_menu(False, "https://t.me/support"),
        key_prompt(),
        only_cancel(),
        only_home(),
        balance_keyboard(),
        link_help_keyboard(),
        logout_confirm_keyboard(),
        settings_keyboard(True),
        settings_keyboard(False),
        assets_keyboard(),
        coins_keyboard(),
        how_keyboard(),
        muted_orders_keyboard([order_id, "c" * 200]),
    ]
    markups += [language_keyboard(code) for code in LANGUAGES]
    markups += [transactions_keyboard(9999, 9999, kind) for kind in TX_KINDS]
    for asset in ASSETS:
        markups.append(networks_keyboard(asset))
        markups += [address_keyboard(option) for option in networks_of(asset)]
    for reference in [*_sandbox_references().values(), _long_reference()]:
        for price in (Decimal("99999.99"), None):
            periods = [(period, price) for period in reference.periods]
            markups.append(reminder_keyboard(2**63 - 1, order_id, periods, more_periods=True))
    for muted in (True, False):
        markups.append(muted_keyboard(2**63 - 1, order_id, muted))
    odd = [timedelta(days=30), timedelta(hours=23), timedelta(minutes=59)]
    for offsets in ([], list(OFFSET_PRESETS), odd):
        markups.append(reminder_settings_keyboard(offsets, 9999))
    for kind in KIND_CODES:
        markups.append(arrival_keyboard(("x" * 32, kind)))
    markups += _group_markups()
    return markups


def _group_markups() -> list:
    from decimal import Decimal

    from keyboards.buy import quote_keyboard
    from keyboards.groups import choose_key_keyboard, invitation_keyboard, unlink_confirm_keyboard
    from keyboards.requests import (
        request_keyboard,
        request_pending_keyboard,
    )
    from services.purchase import QuoteView

    quote = QuoteView(op_id="f" * 32, type="mix_isp", total=Decimal("999999999.99"),
                      balance=Decimal("0"), coupon="X" * 32)
    return [
        request_keyboard("r" * 48),
        request_pending_keyboard("r" * 48),
        quote_keyboard(quote, requester=True),
        invitation_keyboard("https://t.me/" + "b" * 32 + "?start=g_" + "T" * 62),
        choose_key_keyboard("T" * 48, has_own_key=True),
        choose_key_keyboard("T" * 48, has_own_key=False),
        unlink_confirm_keyboard(),
    ]


def _all_markups() -> list:
    return [*_wizard_markups(), *_orders_markups(), *_other_markups()]


def test_every_button_label_fits_a_phone_in_every_language() -> None:
    from bot.i18n import LANGUAGES, build_i18n
    from keyboards.common import BUTTON_LIMIT

    i18n = build_i18n()
    too_long: dict[str, str] = {}
    for language in LANGUAGES:
        with i18n.context(), i18n.use_locale(language):
            markups = _all_markups()
        assert len(markups) > 500
        for markup in markups:
            for row in markup.inline_keyboard:
                for button in row:
                    if len(button.text) > BUTTON_LIMIT:
                        too_long.setdefault(button.text, language)
                    assert button.text.strip(), "a button without a label"
    assert not too_long, f"longer than {BUTTON_LIMIT} characters: " + "\n".join(
        f"{language}: {text!r} ({len(text)})" for text, language in too_long.items()
    )


def test_every_keyboard_factory_is_measured_here() -> None:
    import inspect
    import pkgutil
    from importlib import import_module
    from pathlib import Path

    import keyboards

    measured = Path(__file__).read_text().split("# -- labels fit a phone")[1]
    unmeasured = []
    for info in pkgutil.iter_modules(keyboards.__path__):
        module = import_module(f"keyboards.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(obj):
                continue
            builds_markup = "InlineKeyboardMarkup" in str(inspect.signature(obj).return_annotation)
            if obj.__module__ == module.__name__ and builds_markup and f"{name}(" not in measured:
                unmeasured.append(f"{module.__name__}.{name}")
    assert not unmeasured, f"build these in _all_markups: {unmeasured}"


def test_menus_are_built_once_per_language_and_never_mixed() -> None:
    from bot.i18n import build_i18n
    from keyboards.common import dashboard_menu, main_menu

    i18n = build_i18n()
    with i18n.context():
        with i18n.use_locale("en"):
            en = main_menu(linked=True)
            assert main_menu(linked=True) is en  # built once
            assert main_menu(linked=False) is not en
            en_dash = dashboard_menu(True, "https://t.me/help")
            assert dashboard_menu(True, None) is not en_dash
            assert en_dash.inline_keyboard[:-1] == en.inline_keyboard
        with i18n.use_locale("ru"):
            ru = main_menu(linked=True)
            ru_dash = dashboard_menu(True, "https://t.me/help")
    labels = [b.text for row in en.inline_keyboard for b in row]
    ru_labels = [b.text for row in ru.inline_keyboard for b in row]
    assert "📦 My orders" in labels and "📦 My orders" not in ru_labels
    assert [b.callback_data for row in ru.inline_keyboard for b in row] == [
        b.callback_data for row in en.inline_keyboard for b in row
    ]
    assert ru_dash.inline_keyboard[-1][0].text != en_dash.inline_keyboard[-1][0].text
