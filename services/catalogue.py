"""One entry per proxy type: the wizard's steps for it and what the shop knows about it.

From the API's "Order Creation Parameters by Proxy Type". Adding an eighth type is one
entry here plus its labels in views/catalogue.py (and their translations); the tests fail
until every `ProxyType` has both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from proxy_api import ProxyType


class Step(StrEnum):
    """The wizard's steps. Stored in the FSM data, so the values are a storage format."""

    TYPE = "type"
    COUNTRY = "country"
    SERVICE = "service"
    OPERATOR = "operator"
    ROTATION = "rotation"
    PERIOD = "period"
    QUANTITY = "quantity"
    PROTOCOL = "protocol"
    TARIF = "tarif"
    QUOTE = "quote"
    COUPON = "coupon"


_DATACENTER = (Step.COUNTRY, Step.PERIOD, Step.QUANTITY)


@dataclass(frozen=True, slots=True)
class ProxyKind:
    type: ProxyType
    # The steps between choosing the type and the quote, in order.
    steps: tuple[Step, ...]
    # Sold as a traffic package (priced per GB, no period): nothing to extend.
    traffic_package: bool = False

    @property
    def extendable(self) -> bool:
        return not self.traffic_package


# In the order the type picker shows them.
CATALOGUE: tuple[ProxyKind, ...] = (
    ProxyKind(ProxyType.IPV4, _DATACENTER),
    # The protocol before the period: a price needs it, and the period and quantity show prices.
    ProxyKind(ProxyType.IPV6, (Step.COUNTRY, Step.PROTOCOL, Step.PERIOD, Step.QUANTITY)),
    ProxyKind(ProxyType.ISP, _DATACENTER),
    ProxyKind(
        ProxyType.MOBILE,
        (Step.COUNTRY, Step.SERVICE, Step.OPERATOR, Step.ROTATION, Step.PERIOD, Step.QUANTITY),
    ),
    ProxyKind(ProxyType.RESIDENT, (Step.TARIF,), traffic_package=True),
    ProxyKind(ProxyType.MIX, _DATACENTER),
    ProxyKind(ProxyType.MIX_ISP, _DATACENTER),
)
BY_TYPE: dict[str, ProxyKind] = {kind.type.value: kind for kind in CATALOGUE}


def kind_of(proxy_type: str | None) -> ProxyKind | None:
    return BY_TYPE.get(proxy_type or "")
