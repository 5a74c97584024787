"""Countries by ISO 3166-1 alpha-2 code: the API names them only in English, once.

The 1001Proxy reference data gives a country an id and an English name ("Germany"), no
code. The code is what every other language needs: it names the country in the user's
language (``territory_name``, CLDR data through Babel) and draws its flag (``flag``).
``iso_code`` maps the API's English name to the code, built once from Babel's English
territory names plus ``ALIASES`` for the names the API (or ISO) spells differently from
CLDR ("Czech Republic" and CLDR's "Czechia"). A name it does not know has no code: callers
show the API's name then, never nothing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from babel import Locale, UnknownLocaleError

# CLDR "territories" that are not countries a proxy can be in.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})

# English names the API or ISO 3166 use where CLDR says something else (CLDR's own name
# maps by itself). Keys are folded with ``fold``.
ALIASES: dict[str, str] = {
    "turkey": "TR",
    "czech republic": "CZ",
    "hong kong": "HK",
    "hong kong sar": "HK",
    "macau": "MO",
    "macao": "MO",
    "usa": "US",
    "united states of america": "US",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "the netherlands": "NL",
    "holland": "NL",
    "korea": "KR",
    "republic of korea": "KR",
    "korea, republic of": "KR",
    "north korea": "KP",
    "russian federation": "RU",
    "viet nam": "VN",
    "iran, islamic republic of": "IR",
    "moldova, republic of": "MD",
    "republic of moldova": "MD",
    "taiwan, province of china": "TW",
    "macedonia": "MK",
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "swaziland": "SZ",
    "burma": "MM",
    "myanmar": "MM",
    "cape verde": "CV",
    "uae": "AE",
    "bosnia and herzegovina": "BA",
    "trinidad and tobago": "TT",
    "antigua and barbuda": "AG",
    "saint kitts and nevis": "KN",
    "saint lucia": "LC",
    "saint vincent and the grenadines": "VC",
    "democratic republic of the congo": "CD",
    "republic of the congo": "CG",
    "vatican": "VA",
    "palestine": "PS",
}

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """A name as it is compared: case-folded, accents and ё dropped, spaces collapsed.

    "Türkiye", "TURKIYE" and "turkiye" fold alike, and so do "Ёлка" and "елка".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.replace("’", "'").replace("&", "and").replace("st. ", "saint ")
    return _SPACES.sub(" ", plain).strip()


def _alpha2(code: str | None) -> str | None:
    """``code`` upper-cased when it is two ASCII letters, else None."""
    if code and len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    return None


@cache
def territories(language: str) -> dict[str, str]:
    """Country names of one language by alpha-2 code (empty for a language Babel lacks)."""
    try:
        names = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError):
        return {}
    return {
        code: name
        for code, name in names.items()
        if _alpha2(code) == code and code not in _NOT_COUNTRIES
    }


@cache
def _by_english_name() -> dict[str, str]:
    mapping = {fold(name): code for code, name in territories("en").items()}
    # CLDR qualifies some names ("Hong Kong SAR China", "Myanmar (Burma)"): the plain
    # part is what people and APIs write.
    for code, name in territories("en").items():
        plain = fold(re.sub(r"\s*\(.*\)$", "", name))
        mapping.setdefault(plain, code)
    mapping.update(ALIASES)
    return mapping


def iso_code(name: str | None, code: str | None = None) -> str | None:
    """The alpha-2 code of a country the API names, or None when it is not known.

    A code that came with the data wins (the sandbox sends one; the API may one day).
    """
    given = _alpha2(code)
    if given is not None:
        return given
    if not name:
        return None
    return _by_english_name().get(fold(name))


def territory_name(code: str | None, language: str) -> str | None:
    """The country's name in ``language`` (CLDR), or None."""
    alpha2 = _alpha2(code)
    return territories(language).get(alpha2) if alpha2 is not None else None


def flag(code: str | None) -> str:
    """The flag emoji of an alpha-2 code (two regional indicators), or "" for anything else."""
    alpha2 = _alpha2(code)
    if alpha2 is None:
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in alpha2)
