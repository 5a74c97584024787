"""The purchase wizard's pure parts: typed quantities, the country search, and the state
that goes through storage (``to_dict``/``from_dict``) and must survive anything read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from proxy_api import Country
from services.purchase import (
    COUNTRY,
    MAX_QUANTITY,
    MAX_SEARCH_LENGTH,
    PERIOD,
    QUOTE,
    TYPE,
    QuoteView,
    Receipt,
    Selection,
    Wizard,
    parse_quantity,
    quote_of,
    search_countries,
)
from storage.operations import Operation

# -- parse_quantity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("  25\n", 25),
        ("1 000", 1000),
        ("1_000", 1000),
        ("0005", 5),
        ("1", 1),
        (str(MAX_QUANTITY), MAX_QUANTITY),
    ],
)
def test_parse_quantity_accepts_plain_numbers_in_bounds(text: str, expected: int) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        str(MAX_QUANTITY + 1),
        "10000000000",
        "9" * 5000,  # past int()'s digit limit: refused, not an error
        "-5",
        "+5",
        "5.0",
        "1,000",
        "1e3",
        "five",
        "10 proxies",
        "١٢",  # Arabic-Indic digits: isdigit() says yes, int() would take them
        "²",  # a superscript: isdigit() says yes, int() fails
        "５",  # a fullwidth digit
    ],
)
def test_parse_quantity_refuses_anything_else(text: str) -> None:
    assert parse_quantity(text) is None


# -- search_countries ---------------------------------------------------------------------

JAPAN = Country(id=1, name="Japan", code="JP")
ANDORRA = Country(id=2, name="Andorra", code="AD")
GERMANY = Country(id=3, name="Germany", code="DE")
ANGOLA = Country(id=4, name="Angola", code="AO")
UK = Country(id=5, name="United Kingdom", code="GB")
AUSTRIA = Country(id=6, name="Österreich", code=None)
BELARUS = Country(id=7, name="Weißrussland", code="BY")
COUNTRIES = [JAPAN, ANDORRA, GERMANY, ANGOLA, UK, AUSTRIA, BELARUS]


@pytest.mark.parametrize("query", ["", "   "])
def test_an_empty_search_keeps_every_country_in_order(query: str) -> None:
    found = search_countries(COUNTRIES, query)
    assert found == COUNTRIES
    found.clear()  # a copy: the caller's list is not the result
    assert len(COUNTRIES) == 7


def test_search_matches_names_case_insensitively_and_trims() -> None:
    assert search_countries(COUNTRIES, "germ") == [GERMANY]
    assert search_countries(COUNTRIES, "  GERM ") == [GERMANY]
    assert search_countries(COUNTRIES, "kingdom") == [UK]
    assert search_countries(COUNTRIES, "öster") == [AUSTRIA]
    assert search_countries(COUNTRIES, "ÖSTER") == [AUSTRIA]
    # Case folding, not just lower case: ß and ss are the same letters.
    assert search_countries(COUNTRIES, "WEIß") == [BELARUS]
    assert search_countries(COUNTRIES, "weiss") == [BELARUS]


def test_search_puts_name_prefixes_first_and_otherwise_keeps_the_order() -> None:
    # "an" starts Andorra and Angola and is inside Japan, Germany and Weißrussland.
    assert search_countries(COUNTRIES, "an") == [ANDORRA, ANGOLA, JAPAN, GERMANY, BELARUS]


def test_search_matches_a_whole_country_code() -> None:
    assert search_countries(COUNTRIES, "gb") == [UK]
    assert search_countries(COUNTRIES, "DE") == [GERMANY]
    assert search_countries(COUNTRIES, "ao") == [ANGOLA]
    assert search_countries(COUNTRIES, "b") == [], "part of a code is not a match"


def test_search_without_a_match_is_empty() -> None:
    assert search_countries(COUNTRIES, "atlantis") == []
    assert search_countries(COUNTRIES, "g b") == []
    assert search_countries([], "ger") == []


# -- wizard state through storage ---------------------------------------------------------

FULL_SELECTION = Selection(
    type="mobile",
    country_id=3,
    service="dedicated",
    operator_id=1,
    rotation_id=2,
    period_id=2,
    quantity=5,
    protocol="SOCKS5",
    tarif_id=7,
    coupon="SAVE10",
)


def _through_json(data: dict) -> dict:
    """What FSM storage gives back: the dict after a JSON round trip."""
    return json.loads(json.dumps(data))


def test_selection_round_trips_every_field() -> None:
    data = FULL_SELECTION.to_dict()
    assert len(data) == 10
    assert Selection.from_dict(_through_json(data)) == FULL_SELECTION


def test_an_empty_selection_is_stored_as_nothing() -> None:
    assert Selection().to_dict() == {}
    assert Selection.from_dict({}) == Selection()


@pytest.mark.parametrize(
    "wizard",
    [
        Wizard(),
        Wizard(step=PERIOD, sel=Selection(type="ipv4", country_id=1)),
        Wizard(step=QUOTE, sel=FULL_SELECTION, page=2, search="ger", op_id="op-1"),
        Wizard(step=COUNTRY, sel=Selection(type="isp"), page=0),
    ],
)
def test_wizard_round_trips(wizard: Wizard) -> None:
    assert Wizard.from_dict(_through_json(wizard.to_dict())) == wizard


def test_wizard_stores_only_what_is_set() -> None:
    assert Wizard().to_dict() == {"step": TYPE, "sel": {}}
    data = Wizard(step=QUOTE, sel=Selection(type="ipv4"), page=0, op_id="k").to_dict()
    assert data == {"step": QUOTE, "sel": {"type": "ipv4"}, "page": 0, "op": "k"}


@pytest.mark.parametrize("data", [None, [], "wizard", 42, 1.5, True, {}, {"junk": 1}])
def test_anything_but_a_wizard_dict_is_a_fresh_wizard(data: object) -> None:
    wizard = Wizard.from_dict(data)
    assert wizard == Wizard()
    assert wizard.sel.missing_step() == TYPE and wizard.flow() == (TYPE, QUOTE)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"step": "warp"}, Wizard()),
        ({"step": None}, Wizard()),
        ({"step": ["quote"]}, Wizard()),
        ({"step": "period"}, Wizard(step=PERIOD)),
        ({"page": -1}, Wizard()),
        ({"page": True}, Wizard()),
        ({"page": 1.5}, Wizard()),
        ({"page": "3"}, Wizard(page=3)),
        ({"page": "three"}, Wizard()),
        ({"search": 5}, Wizard()),
        ({"search": None}, Wizard()),
        ({"search": "x" * 500}, Wizard(search="x" * MAX_SEARCH_LENGTH)),
        ({"op": ""}, Wizard()),
        ({"op": 17}, Wizard()),
        ({"op": {"id": "x"}}, Wizard()),
        ({"sel": "everything"}, Wizard()),
        ({"sel": [1, 2]}, Wizard()),
    ],
)
def test_garbled_wizard_fields_fall_back_to_defaults(data: dict, expected: Wizard) -> None:
    assert Wizard.from_dict(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "spaceship"}, Selection()),
        ({"type": 1}, Selection()),
        ({"country_id": True}, Selection()),
        ({"country_id": "12"}, Selection(country_id=12)),
        ({"country_id": "1e3"}, Selection()),
        ({"country_id": "9" * 19}, Selection()),
        ({"country_id": [1]}, Selection()),
        ({"quantity": 2.5}, Selection()),
        ({"quantity": "5 "}, Selection()),
        ({"service": "premium"}, Selection()),
        ({"protocol": "https"}, Selection()),
        ({"protocol": "HTTPS"}, Selection(protocol="HTTPS")),
        ({"coupon": ""}, Selection()),
        ({"coupon": 10}, Selection()),
        ({"tarif_id": None, "operator_id": "x", "rotation_id": False}, Selection()),
    ],
)
def test_garbled_selection_fields_fall_back_to_none(data: dict, expected: Selection) -> None:
    assert Selection.from_dict(data) == expected


def test_a_garbled_selection_asks_again_from_the_type() -> None:
    sel = Selection.from_dict({"type": "spaceship", "country_id": 3, "quantity": 5})
    assert sel.type is None and sel.missing_step() == TYPE


# -- quotes and receipts ------------------------------------------------------------------

FULL_QUOTE = QuoteView(
    op_id="op-1",
    type="mobile",
    total=Decimal("21.60"),
    unit_price=Decimal("4.32"),
    balance=Decimal("100.00"),
    currency="USD",
    country="Poland",
    country_code="PL",
    country_id=7,
    period="1 Month",
    period_id=2,
    period_days=30,
    quantity=5,
    protocol="HTTPS",
    service="dedicated",
    operator="Orange",
    rotation="Every 10 min",
    tarif="5 GB",
    traffic=Decimal("5.5"),
    coupon="SAVE10",
)


@pytest.mark.parametrize(
    "quote", [FULL_QUOTE, QuoteView(op_id="k", type="ipv4", total=Decimal("0.10"))]
)
def test_quote_view_round_trips(quote: QuoteView) -> None:
    data = _through_json(quote.to_dict())
    restored = QuoteView.from_dict(data)
    assert restored == quote
    # Money keeps its written form (cents), not a float's.
    assert str(restored.total) == str(quote.total)


def test_quote_view_stores_money_as_text_and_leaves_out_what_is_unset() -> None:
    data = QuoteView(op_id="k", type="ipv4", total=Decimal("2.40")).to_dict()
    assert data == {"op_id": "k", "type": "ipv4", "total": "2.40", "currency": "USD"}


def test_garbled_optional_quote_fields_become_none() -> None:
    data = {
        "op_id": "k",
        "type": "ipv4",
        "total": "2.40",
        "unit_price": "a lot",
        "balance": [],
        "quantity": "many",
        "country_id": True,
        "period_days": 1.5,
        "traffic": {},
        "currency": None,
    }
    assert QuoteView.from_dict(data) == QuoteView(op_id="k", type="ipv4", total=Decimal("2.40"))


def test_a_quote_with_a_nan_balance_reads_back_as_an_unknown_balance() -> None:
    data = {"op_id": "k", "type": "ipv4", "total": "2.40", "balance": "NaN"}
    quote = QuoteView.from_dict(data)
    assert quote.balance is None and quote.affordable


def _operation(request: dict) -> Operation:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    return Operation("op-1", 1, 1, "order", request, "pending", None, None, now, now)


def test_quote_of_reads_the_stored_view() -> None:
    assert quote_of(_operation({"view": FULL_QUOTE.to_dict()})) == FULL_QUOTE


@pytest.mark.parametrize(
    "request_data",
    [
        {},
        {"view": None},
        {"view": "quote"},
        {"view": {}},
        {"view": {"op_id": "k", "type": "ipv4"}},
        {"view": {"op_id": "k", "type": "ipv4", "total": "free"}},
        {"view": {"op_id": "k", "type": "ipv4", "total": None}},
    ],
)
def test_quote_of_a_garbled_operation_is_none(request_data: dict) -> None:
    assert quote_of(_operation(request_data)) is None


FULL_RECEIPT = Receipt(
    order_id="ord-1",
    type="ipv4",
    charged=Decimal("12.00"),
    balance=Decimal("88.00"),
    quantity=5,
    country="Germany",
    country_code="DE",
    period="1 Month",
    tarif=None,
    status="active",
    expires_at=datetime(2025, 2, 1, 12, 30, tzinfo=UTC),
)


@pytest.mark.parametrize(
    "receipt", [FULL_RECEIPT, Receipt(order_id="ord-2", type="resident", charged=Decimal("5"))]
)
def test_receipt_round_trips(receipt: Receipt) -> None:
    restored = Receipt.from_dict(_through_json(receipt.to_dict()))
    assert restored == receipt
    assert str(restored.charged) == str(receipt.charged)


def test_receipt_keeps_the_expiry_time_zone() -> None:
    restored = Receipt.from_dict(_through_json(FULL_RECEIPT.to_dict()))
    assert restored.expires_at is not None
    assert restored.expires_at.utcoffset() is not None
    assert restored.expires_at == FULL_RECEIPT.expires_at


def test_garbled_optional_receipt_fields_become_none() -> None:
    data = {
        "order_id": "ord-1",
        "charged": "12.00",
        "balance": "plenty",
        "quantity": "5 IPs",
        "expires_at": "",
    }
    assert Receipt.from_dict(data) == Receipt(order_id="ord-1", type="", charged=Decimal("12.00"))
