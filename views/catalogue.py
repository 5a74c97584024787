"""What each proxy type is called: the long name in the wizard, the short one in lists.

One entry per type of services/catalogue.py; tests/test_catalogue.py fails while a type has
no label here (it would show its raw API code).
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from views.format import h


def _titles() -> dict[str, str]:
    return {
        "ipv4": _("🖥 Datacenter IPv4"),
        "ipv6": _("🌐 Datacenter IPv6"),
        "isp": _("🏢 ISP"),
        "mobile": _("📱 Mobile 4G/5G"),
        "resident": _("🏠 Residential"),
        "mix": _("🔀 Mixed datacenter"),
        "mix_isp": _("🔀 Mixed ISP"),
    }


def _labels() -> dict[str, str]:
    return {
        "ipv4": _("IPv4"),
        "ipv6": _("IPv6"),
        "isp": _("ISP"),
        "mobile": _("Mobile"),
        "resident": _("Residential"),
        "mix": _("Mix"),
        "mix_isp": _("Mix ISP"),
    }


def type_title(proxy_type: str) -> str:
    """The wizard's name for a type, with its icon ("🖥 Datacenter IPv4")."""
    return _titles().get(proxy_type, h(proxy_type))


def type_label(proxy_type: str) -> str:
    """The short name for lists and order details ("IPv4")."""
    return _labels().get(proxy_type, h(proxy_type))


def has_labels(proxy_type: str) -> bool:
    return proxy_type in _titles() and proxy_type in _labels()
