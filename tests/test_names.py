"""Reference data in the user's language: countries by ISO code, periods from their days,
rotations from their minutes (core/geo.py, views/names.py)."""

from __future__ import annotations

import re

import pytest

from bot.i18n import build_i18n
from core import geo
from proxy_api import Country
from sandbox.seed import CATALOGS, COUNTRIES, ROTATIONS
from services.purchase import search_countries
from views.names import (
    ON_DEMAND,
    country_label,
    country_name,
    country_search_names,
    period_label,
    rotation_label,
    rotation_minutes,
)

CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@pytest.fixture(scope="module")
def i18n():
    return build_i18n()


@pytest.fixture
def ru(i18n):
    with i18n.context(), i18n.use_locale("ru"):
        yield


@pytest.fixture
def en(i18n):
    with i18n.context(), i18n.use_locale("en"):
        yield


# -- countries -------------------------------------------------------------------------------


@pytest.mark.parametrize("country", list(COUNTRIES.values()), ids=lambda c: c.name)
def test_every_country_the_sandbox_sells_maps_to_its_iso_code_by_name(country) -> None:
    # The real API sends no code: the English name alone must find it.
    assert geo.iso_code(country.name) == country.code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Germany", "DE"),
        ("  germany ", "DE"),
        ("GERMANY", "DE"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Hong Kong", "HK"),
        ("South Korea", "KR"),
        ("Russian Federation", "RU"),
        ("Myanmar", "MM"),
        ("Bosnia & Herzegovina", "BA"),
        ("Bosnia and Herzegovina", "BA"),
        ("St. Lucia", "LC"),
        ("The Netherlands", "NL"),
    ],
)
def test_english_names_and_their_variants_map_to_codes(name: str, code: str) -> None:
    assert geo.iso_code(name) == code


def test_a_given_code_wins_and_nonsense_has_none() -> None:
    assert geo.iso_code("Whatever", "de") == "DE"
    assert geo.iso_code("Germany", "DEU") == "DE"  # not alpha-2: the name decides
    for name in ("Atlantis", "", None, "European Union", "World"):
        assert geo.iso_code(name) is None
    assert geo.flag("DE") == "🇩🇪"
    assert geo.flag("de") == "🇩🇪"
    for code in (None, "", "D", "DEU", "1A", "ÄÖ"):
        assert geo.flag(code) == ""


def test_every_country_the_sandbox_sells_has_a_russian_name_and_a_flag(ru) -> None:
    for country in COUNTRIES.values():
        label = country_label(country.name)
        assert label.startswith(geo.flag(country.code) + " "), label
        assert CYRILLIC.search(label), label


def test_country_names_in_russian_and_english(ru, i18n) -> None:
    assert country_name("Germany") == "Германия"
    assert country_label("Germany") == "🇩🇪 Германия"
    assert country_name("United States") == "США"
    assert country_name("Czech Republic") == "Чехия"
    with i18n.use_locale("en"):
        # English keeps the API's own name.
        assert country_label("Czech Republic") == "🇨🇿 Czech Republic"


def test_an_unknown_country_keeps_its_api_name(ru) -> None:
    assert country_name("Atlantis") == "Atlantis"
    assert country_label("Atlantis") == "Atlantis"
    assert country_label("Atlantis", "xx") == "🇽🇽 Atlantis"  # a code is drawn, unnamed
    assert country_label(None) == ""


def test_without_a_language_countries_are_english() -> None:
    assert country_label("Germany") == "🇩🇪 Germany"
    assert country_search_names(Country(id=3, name="Germany")) == ("Germany",)


# -- search ----------------------------------------------------------------------------------

SEED = [Country(id=c.id, name=c.name) for c in COUNTRIES.values()]  # no codes, like the API


def _found(query: str) -> list[str]:
    return [c.name for c in search_countries(SEED, query, country_search_names)]


def test_a_russian_user_searches_in_russian_and_in_english(ru) -> None:
    assert _found("герм") == ["Germany"]
    assert _found("ГЕРМ") == ["Germany"]
    assert _found("germ") == ["Germany"]
    assert _found("сша") == ["United States"]
    assert _found("соедин") == ["United States"]
    assert _found("чех") == ["Czech Republic"]
    assert _found("корея") == ["South Korea"]
    # An ISO code first (the API sent none), then names containing it ("Sweden").
    assert _found("de") == ["Germany", "Sweden"]
    # Prefixes first: "ин" starts India and is inside Finland ("Финляндия")... and others.
    assert _found("ин")[0] == "India"


def test_an_english_user_searches_in_english(en) -> None:
    assert _found("germ") == ["Germany"]
    assert _found("usa") == ["United States"]
    assert _found("uk") == ["United Kingdom", "Ukraine"]  # alias, then name prefix
    assert _found("czechia") == ["Czech Republic"]
    assert _found("герм") == []


# -- periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "english", "russian"),
    [
        (1, "1 day", "1 день"),
        (2, "2 days", "2 дня"),
        (5, "5 days", "5 дней"),
        (21, "3 weeks", "3 недели"),
        (7, "1 week", "1 неделя"),
        (14, "2 weeks", "2 недели"),
        (35, "5 weeks", "5 недель"),
        (30, "1 month", "1 месяц"),
        (90, "3 months", "3 месяца"),
        (180, "6 months", "6 месяцев"),
        (360, "12 months", "12 месяцев"),
        (365, "1 year", "1 год"),
        (730, "2 years", "2 года"),
        (10, "10 days", "10 дней"),
    ],
)
def test_periods_from_their_days(i18n, days: int, english: str, russian: str) -> None:
    with i18n.context():
        with i18n.use_locale("en"):
            assert period_label(days, "whatever") == english
        with i18n.use_locale("ru"):
            assert period_label(days, "whatever") == russian


@pytest.mark.parametrize(("n", "expected"), [(1, "1 день"), (2, "2 дня"), (5, "5 дней"),
                                            (11, "11 дней"), (21, "21 день"), (22, "22 дня")])
def test_russian_plural_forms_of_days(ru, n: int, expected: str) -> None:
    # 21 days is 3 weeks as a period; the plural forms are those of the catalogue.
    from aiogram.utils.i18n import ngettext

    assert ngettext("{n} day", "{n} days", n).format(n=n) == expected


def test_a_period_without_days_shows_the_api_name(ru) -> None:
    assert period_label(None, "1 Week") == "1 Week"
    assert period_label(0, "Forever") == "Forever"
    assert period_label(None) == ""


def test_every_period_the_sandbox_sells_reads_in_russian(ru) -> None:
    for catalog in CATALOGS.values():
        for period in catalog.periods:
            assert CYRILLIC.search(period_label(period.days, period.name)), period


# -- rotations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "minutes"),
    [
        ("On demand", ON_DEMAND),
        ("By request", ON_DEMAND),
        ("Every 5 min", 5),
        ("Every 10 minutes", 10),
        ("5m", 5),
        ("Every 60 min", 60),
        ("Every 2 hours", 120),
        ("1h", 60),
        ("Every minute", 1),
        ("Every hour", 60),
        ("Sticky session", None),
        ("", None),
        (None, None),
        ("Every 0 min", None),
    ],
)
def test_rotation_minutes_are_read_from_the_api_name(name, minutes) -> None:
    assert rotation_minutes(name) == minutes


def test_rotations_in_russian_with_plural_forms(ru) -> None:
    assert rotation_label("On demand") == "По запросу"
    assert rotation_label("Every 1 min") == "Каждую 1 минуту"
    assert rotation_label("Every 2 min") == "Каждые 2 минуты"
    assert rotation_label("Every 5 min") == "Каждые 5 минут"
    assert rotation_label("Every 21 min") == "Каждую 21 минуту"
    assert rotation_label("Every 60 min") == "Каждый 1 час"
    assert rotation_label("Every 180 min") == "Каждые 3 часа"
    assert rotation_label("Sticky session") == "Sticky session"  # unknown: as the API says


def test_every_rotation_the_sandbox_sells_reads_in_russian(ru) -> None:
    for rotation in ROTATIONS:
        assert CYRILLIC.search(rotation_label(rotation.name)), rotation
