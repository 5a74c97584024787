"""One catalogue entry per proxy type, with labels: an eighth type cannot be half-added."""

from __future__ import annotations

import pytest

from proxy_api import ProxyType
from services.catalogue import BY_TYPE, CATALOGUE, Step, kind_of
from services.purchase import FLOWS, PROXY_TYPES, Selection


def test_every_api_type_has_exactly_one_entry() -> None:
    assert [kind.type for kind in CATALOGUE].count(ProxyType.IPV4) == 1
    assert set(BY_TYPE) == {t.value for t in ProxyType}
    assert len(CATALOGUE) == len(ProxyType)
    assert tuple(kind.type.value for kind in CATALOGUE) == PROXY_TYPES


@pytest.mark.parametrize("kind", CATALOGUE, ids=lambda k: k.type.value)
def test_each_type_flow_is_well_formed(kind) -> None:
    # Only the steps between the type and the quote, each once.
    assert kind.steps and len(set(kind.steps)) == len(kind.steps)
    assert not {Step.TYPE, Step.QUOTE, Step.COUPON} & set(kind.steps)
    assert FLOWS[kind.type.value] == kind.steps
    # A traffic package has no period, so nothing to extend; everything else has one.
    assert kind.extendable == (Step.PERIOD in kind.steps)


def test_every_type_has_both_labels_in_both_languages() -> None:
    from bot.i18n import build_i18n
    from views.catalogue import has_labels, type_label, type_title

    i18n = build_i18n()
    for language in ("en", "ru"):
        with i18n.context(), i18n.use_locale(language):
            for proxy_type in BY_TYPE:
                assert has_labels(proxy_type), proxy_type
                assert type_title(proxy_type) != proxy_type
                assert type_label(proxy_type) != proxy_type
    assert kind_of("socks") is None and kind_of(None) is None


def test_a_selection_sends_exactly_its_types_fields() -> None:
    sel = Selection(
        type="resident", country_id=1, period_id=2, quantity=3, protocol="HTTPS", tarif_id=4
    )
    body = sel.to_request().to_body()
    assert body == {"type": "resident", "tarifId": 4}
    sel = Selection(
        type="ipv6", country_id=1, period_id=2, quantity=3, protocol="SOCKS5", tarif_id=4
    )
    assert set(sel.to_request().to_body()) == {
        "type", "countryId", "periodId", "quantity", "protocol"
    }
