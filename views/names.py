"""Reference data in the user's language: countries, periods and rotations.

The API names these only in English ("Germany", "1 Week", "Every 5 min"), so every screen
that shows one asks here instead of printing the API's name:

- a **country** by its ISO code (``core.geo``): the name in the user's language (CLDR via
  Babel; English keeps the API's own name) with its flag. A country whose code is unknown
  shows the API's name, never nothing.
- a **period** from its ``days``: whole years (multiples of 365) → years; multiples of 30
  → months (30 = 1 month, 90 = 3 months, 360 = 12 months); multiples of 7 → weeks; else
  days. Plural forms come from the catalogue (``ngettext``: 1 день, 2 дня, 5 дней).
  Without ``days`` the API's name is shown.
- a **rotation** from the minutes in its name ("Every 5 min" → every 5 minutes, 60 → every
  hour); "On demand" has its own words; a name we cannot read is shown as it is.

- a mobile **service** ("shared" → "Shared modem"), a **protocol** ("https" → "HTTPS") and a
  traffic amount (5 → "5 GB"): the same words in the wizard, the quote, the receipt, the order
  details and the reminders.

Everything here returns plain text: escape it (``views.format.h``) before it goes into
HTML. ``country_search_names`` is what the purchase service matches a typed search
against (bot/app.py hands it over): the names in the user's language and in English.
"""

from __future__ import annotations

import re
from decimal import Decimal

from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from core import geo
from core.languages import DEFAULT_LOCALE
from proxy_api import Country

# Names people use that CLDR does not, per language (display, then search).
_DISPLAY: dict[str, dict[str, str]] = {
    "ru": {"US": "США", "HK": "Гонконг", "MO": "Макао", "KR": "Южная Корея"},
}
_SEARCH_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"US": ("USA", "America"), "GB": ("UK", "Britain", "England")},
    "ru": {"US": ("Америка",), "GB": ("Англия", "Британия"), "NL": ("Голландия",)},
}


def current_language() -> str:
    """The language of the message being written (English outside an update)."""
    try:
        return get_i18n().current_locale
    except LookupError:
        return DEFAULT_LOCALE


# -- countries -----------------------------------------------------------------------------


def country_name(name: str | None, code: str | None = None) -> str:
    """The country in the user's language: "Германия" for the API's "Germany"."""
    iso = geo.iso_code(name, code)
    language = current_language()
    if iso is not None and language != DEFAULT_LOCALE:
        local = _DISPLAY.get(language, {}).get(iso) or geo.territory_name(iso, language)
        if local:
            return local
    if name:
        return name
    return (iso and geo.territory_name(iso, DEFAULT_LOCALE)) or iso or ""


def country_label(name: str | None, code: str | None = None) -> str:
    """Flag and name: "🇩🇪 Германия" (just the name when the flag is unknown)."""
    mark = geo.flag(geo.iso_code(name, code))
    text = country_name(name, code)
    return f"{mark} {text}" if mark and text else mark or text


def country_flag(name: str | None, code: str | None = None) -> str:
    return geo.flag(geo.iso_code(name, code))


def country_search_names(country: Country) -> tuple[str, ...]:
    """Every name a user may type for ``country``: the API's, CLDR's English one, the one in
    the user's language and the usual short forms ("США", "UK")."""
    names = [country.name]
    iso = geo.iso_code(country.name, country.code)
    if iso is None:
        return tuple(names)
    for language in dict.fromkeys((DEFAULT_LOCALE, current_language())):
        for found in (
            geo.territory_name(iso, language),
            _DISPLAY.get(language, {}).get(iso),
            *_SEARCH_ALIASES.get(language, {}).get(iso, ()),
        ):
            if found and found not in names:
                names.append(found)
    return tuple(names)


# -- periods -------------------------------------------------------------------------------


def duration_label(days: int) -> str:
    """A number of days as people say it: "1 week", "3 months", "1 year", "10 days"."""
    if days % 365 == 0:
        n = days // 365
        return ngettext("{n} year", "{n} years", n).format(n=n)
    if days % 30 == 0:
        n = days // 30
        return ngettext("{n} month", "{n} months", n).format(n=n)
    if days % 7 == 0:
        n = days // 7
        return ngettext("{n} week", "{n} weeks", n).format(n=n)
    return ngettext("{n} day", "{n} days", days).format(n=days)


def period_label(days: int | None, name: str | None = None) -> str:
    """A rental period from its ``days``, else the API's ``name``."""
    if isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return duration_label(days)
    return name or ""


# -- rotations -----------------------------------------------------------------------------

ON_DEMAND = 0
_MINUTES = re.compile(r"(\d+)\s*(?:m|min|mins|minute|minutes)\b", re.IGNORECASE)
_HOURS = re.compile(r"(\d+)\s*(?:h|hr|hrs|hour|hours)\b", re.IGNORECASE)
_EVERY_UNIT = re.compile(r"\bevery\s+(minute|hour)\b", re.IGNORECASE)
_ON_DEMAND = re.compile(r"\b(on|by|per)\s+(demand|request|link)\b|\bmanual", re.IGNORECASE)


def rotation_minutes(name: str | None) -> int | None:
    """Minutes between IP changes named by the API ("Every 5 min" → 5), ``ON_DEMAND`` for
    a change on request, None when the name says neither."""
    if not name:
        return None
    if _ON_DEMAND.search(name):
        return ON_DEMAND
    if found := _MINUTES.search(name):
        minutes = int(found.group(1))
    elif found := _HOURS.search(name):
        minutes = int(found.group(1)) * 60
    elif found := _EVERY_UNIT.search(name):
        minutes = 1 if found.group(1).lower() == "minute" else 60
    else:
        return None
    return minutes if minutes > 0 else None


def rotation_label(name: str | None) -> str:
    """"Every 5 minutes", "Every 1 hour", "On demand" — or the API's name as it is."""
    minutes = rotation_minutes(name)
    if minutes is None:
        return name or ""
    if minutes == ON_DEMAND:
        return _("On demand")
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("Every {n} hour", "Every {n} hours", hours).format(n=hours)
    return ngettext("Every {n} minute", "Every {n} minutes", minutes).format(n=minutes)


# -- services, protocols, traffic ------------------------------------------------------------


def service_label(service: str | None) -> str:
    """A mobile proxy's service type: "Shared modem", "Dedicated modem" (else as it is)."""
    labels = {"shared": _("Shared modem"), "dedicated": _("Dedicated modem")}
    return labels.get((service or "").lower(), service or "")


def protocol_label(protocol: str | None) -> str:
    """"HTTPS" or "SOCKS5", however the API spells it (orders report it lower-case)."""
    known = {"HTTPS": "HTTPS", "SOCKS5": "SOCKS5"}
    return known.get((protocol or "").upper(), protocol or "")


def gigabytes(value: Decimal | int) -> str:
    """Traffic: "5 GB"."""
    return _("{amount} GB").format(amount=f"{Decimal(value).normalize():f}")
