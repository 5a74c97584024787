"""Reference data the sandbox serves: catalogs per proxy type, prices, coupons, currencies.

Country and period ids are global (country 1 is the United States and period 1 is one week
for every type) because the spec examples use `countryId: 1, periodId: 1` for all types;
each type lists only the subset it sells. Prices are list prices with the platform markup
already applied, in USD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

PROXY_TYPES: tuple[str, ...] = ("ipv4", "ipv6", "isp", "mobile", "resident", "mix", "mix_isp")
MOBILE_SERVICE_TYPES: tuple[str, ...] = ("shared", "dedicated")
PROTOCOLS: tuple[str, ...] = ("HTTPS", "SOCKS5")
MAX_QUANTITY = 1000


@dataclass(frozen=True)
class Country:
    id: int
    name: str
    code: str


@dataclass(frozen=True)
class Period:
    id: int
    name: str
    days: int


@dataclass(frozen=True)
class Option:
    """A mobile operator or rotation interval: only an id and a display name."""

    id: int
    name: str


@dataclass(frozen=True)
class Tarif:
    """A residential traffic package; `price` is for the whole package."""

    id: int
    name: str
    price: Decimal
    traffic_gb: int

    @property
    def price_per_gb(self) -> Decimal:
        return self.price / self.traffic_gb


@dataclass(frozen=True)
class Catalog:
    countries: tuple[Country, ...] = ()
    periods: tuple[Period, ...] = ()
    operators: tuple[Option, ...] = ()
    rotations: tuple[Option, ...] = ()
    tarifs: tuple[Tarif, ...] = ()
    # period id -> tier -> unit price; the tier is "default" except for mobile, where the
    # service type decides it (dedicated modems cost more than shared ones).
    unit_prices: dict[int, dict[str, Decimal]] = field(default_factory=dict)

    def country(self, country_id: int) -> Country | None:
        return next((c for c in self.countries if c.id == country_id), None)

    def period(self, period_id: int) -> Period | None:
        return next((p for p in self.periods if p.id == period_id), None)

    def operator(self, operator_id: int) -> Option | None:
        return next((o for o in self.operators if o.id == operator_id), None)

    def rotation(self, rotation_id: int) -> Option | None:
        return next((r for r in self.rotations if r.id == rotation_id), None)

    def tarif(self, tarif_id: int) -> Tarif | None:
        return next((t for t in self.tarifs if t.id == tarif_id), None)

    def unit_price(self, period_id: int, mobile_service_type: str | None = None) -> Decimal:
        return self.unit_prices[period_id][mobile_service_type or "default"]


_COUNTRIES: tuple[Country, ...] = (
    Country(1, "United States", "US"),
    Country(2, "United Kingdom", "GB"),
    Country(3, "Germany", "DE"),
    Country(4, "Netherlands", "NL"),
    Country(5, "France", "FR"),
    Country(6, "Canada", "CA"),
    Country(7, "Poland", "PL"),
    Country(8, "Italy", "IT"),
    Country(9, "Spain", "ES"),
    Country(10, "Sweden", "SE"),
    Country(11, "Japan", "JP"),
    Country(12, "Singapore", "SG"),
    Country(13, "Australia", "AU"),
    Country(14, "Brazil", "BR"),
    Country(15, "India", "IN"),
    Country(16, "Ukraine", "UA"),
    Country(17, "Turkey", "TR"),
    Country(18, "Switzerland", "CH"),
    Country(19, "Finland", "FI"),
    Country(20, "Czech Republic", "CZ"),
    Country(21, "Austria", "AT"),
    Country(22, "Israel", "IL"),
    Country(23, "South Korea", "KR"),
    Country(24, "Hong Kong", "HK"),
    Country(25, "Lithuania", "LT"),
    Country(26, "Kazakhstan", "KZ"),
)
COUNTRIES: dict[int, Country] = {c.id: c for c in _COUNTRIES}

_PERIODS: dict[int, Period] = {
    1: Period(1, "1 Week", 7),
    2: Period(2, "1 Month", 30),
    3: Period(3, "3 Months", 90),
    4: Period(4, "6 Months", 180),
    5: Period(5, "1 Year", 365),
}

OPERATORS: tuple[Option, ...] = (
    Option(1, "T-Mobile"),
    Option(2, "AT&T"),
    Option(3, "Verizon"),
    Option(4, "Vodafone"),
    Option(5, "Orange"),
    Option(6, "Telekom"),
    Option(7, "Kyivstar"),
)

ROTATIONS: tuple[Option, ...] = (
    Option(1, "On demand"),
    Option(2, "Every 5 min"),
    Option(3, "Every 10 min"),
    Option(4, "Every 30 min"),
    Option(5, "Every 60 min"),
)

# Package prices are chosen so the per-GB price is a whole number of cents.
TARIFS: tuple[Tarif, ...] = (
    Tarif(1, "Starter 1 GB", Decimal("3.50"), 1),
    Tarif(2, "Basic 5 GB", Decimal("16.00"), 5),
    Tarif(3, "Standard 10 GB", Decimal("30.00"), 10),
    Tarif(4, "Pro 25 GB", Decimal("70.00"), 25),
    Tarif(5, "Business 50 GB", Decimal("125.00"), 50),
)


def _countries(*ids: int) -> tuple[Country, ...]:
    return tuple(COUNTRIES[i] for i in ids)


def _periods(*ids: int) -> tuple[Period, ...]:
    return tuple(_PERIODS[i] for i in ids)


def _prices(**by_period: str) -> dict[int, dict[str, Decimal]]:
    """`_prices(p1="1.25", ...)`: one default-tier price per period id."""
    return {int(key[1:]): {"default": Decimal(value)} for key, value in by_period.items()}


CATALOGS: dict[str, Catalog] = {
    "ipv4": Catalog(
        countries=_COUNTRIES,
        periods=_periods(1, 2, 3, 4, 5),
        unit_prices=_prices(p1="1.25", p2="2.40", p3="6.60", p4="12.00", p5="21.90"),
    ),
    "ipv6": Catalog(
        countries=_countries(1, 2, 3, 4, 5, 6, 7, 10, 16, 19),
        periods=_periods(1, 2, 3, 4),
        unit_prices=_prices(p1="0.35", p2="0.90", p3="2.40", p4="4.50"),
    ),
    "isp": Catalog(
        countries=_countries(1, 2, 3, 4, 5, 6, 8, 11, 12),
        periods=_periods(1, 2, 3),
        unit_prices=_prices(p1="2.10", p2="4.50", p3="12.60"),
    ),
    "mobile": Catalog(
        countries=_countries(1, 2, 3, 4, 5, 7, 16),
        periods=_periods(1, 2, 3),
        operators=OPERATORS,
        rotations=ROTATIONS,
        unit_prices={
            1: {"shared": Decimal("7.50"), "dedicated": Decimal("15.00")},
            2: {"shared": Decimal("22.00"), "dedicated": Decimal("45.00")},
            3: {"shared": Decimal("60.00"), "dedicated": Decimal("120.00")},
        },
    ),
    "resident": Catalog(tarifs=TARIFS),
    "mix": Catalog(
        countries=_countries(1, 2, 3, 4, 5, 6),
        periods=_periods(1, 2, 3),
        unit_prices=_prices(p1="0.95", p2="1.80", p3="4.95"),
    ),
    "mix_isp": Catalog(
        countries=_countries(1, 2, 3, 4, 5),
        periods=_periods(1, 2, 3),
        unit_prices=_prices(p1="1.60", p2="3.20", p3="8.70"),
    ),
}


@dataclass(frozen=True)
class Coupon:
    code: str
    percent_off: Decimal
    expired: bool = False


COUPONS: dict[str, Coupon] = {
    c.code: c
    for c in (
        Coupon("SAVE10", Decimal("10")),
        Coupon("WELCOME5", Decimal("5")),
        Coupon("SPRING2024", Decimal("15"), expired=True),
    )
}


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    network: str
    # Which address format to generate, see sandbox.addresses.
    address_style: str


# In the order of the spec's "Supported Currencies" table; GET /deposits/addresses keeps it.
CURRENCIES: tuple[Currency, ...] = (
    Currency("USDT_TRC20", "USDT", "TRC-20", "tron"),
    Currency("USDT_ERC20", "USDT", "ERC-20", "evm"),
    Currency("USDT_BEP20", "USDT", "BEP-20", "evm"),
    Currency("USDT_SOL", "USDT", "Solana", "solana"),
    Currency("USDT_POLYGON", "USDT", "Polygon", "evm"),
    Currency("USDT_TON", "USDT", "TON", "ton"),
    Currency("USDC_ERC20", "USDC", "ERC-20", "evm"),
    Currency("USDC_BEP20", "USDC", "BEP-20", "evm"),
    Currency("USDC_SOL", "USDC", "Solana", "solana"),
    Currency("USDC_BASE", "USDC", "Base", "evm"),
    Currency("DAI_ERC20", "DAI", "ERC-20", "evm"),
    Currency("DAI_POLYGON", "DAI", "Polygon", "evm"),
    Currency("BTC", "Bitcoin", "BTC", "bitcoin"),
    Currency("ETH", "Ethereum", "ERC-20", "evm"),
    Currency("ETH_BASE", "Ethereum", "Base", "evm"),
    Currency("LTC", "Litecoin", "LTC", "litecoin"),
    Currency("DOGE", "Dogecoin", "DOGE", "dogecoin"),
    Currency("BCH", "Bitcoin Cash", "BCH", "bitcoincash"),
    Currency("XMR", "Monero", "XMR", "monero"),
    Currency("XRP", "XRP", "XRPL", "ripple"),
    Currency("TRX", "Tron", "TRX", "tron"),
    Currency("BNB", "BNB", "BEP-20", "evm"),
    Currency("SOL", "Solana", "Solana", "solana"),
    Currency("POL", "Polygon", "Polygon", "evm"),
    Currency("TON", "Toncoin", "TON", "ton"),
    Currency("SHIB_ERC20", "Shiba Inu", "ERC-20", "evm"),
)
CURRENCIES_BY_CODE: dict[str, Currency] = {c.code: c for c in CURRENCIES}

# First two octets of the ranges proxies are drawn from, per type. They are ordinary
# public-looking hosting/mobile blocks, deliberately not the RFC 5737 documentation ranges
# or private space, so clients that reject "fake" addresses still accept them.
IP_PREFIXES: dict[str, tuple[tuple[int, int], ...]] = {
    "ipv4": ((185, 117), (45, 139), (91, 218), (194, 87)),
    "ipv6": ((146, 19), (5, 253)),
    "isp": ((104, 143), (67, 213), (212, 102)),
    "mobile": ((176, 59), (46, 211), (37, 144)),
    "resident": ((92, 204),),
    "mix": ((109, 94), (193, 233)),
    "mix_isp": ((89, 38), (77, 83)),
}
HTTPS_PORTS: tuple[int, ...] = (8080, 8000, 3128, 50100)
SOCKS5_PORTS: tuple[int, ...] = (1080, 1085, 50101)
# Residential orders get one rotating gateway endpoint instead of a list of IPs.
RESIDENT_PORTS: tuple[int, int] = (10000, 10001)
