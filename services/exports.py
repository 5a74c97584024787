"""Proxy list files: which formats exist, their file names, and the ones built locally.

Two kinds of format: the API's own download endpoint serves ``ip:port`` and
``user:pass@ip:port`` for either protocol; the others are what proxy tools commonly
import and are generated here from the credentials (GET /orders/:id/proxies).
Everything in this module is pure: no I/O, no gettext.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from proxy_api import DownloadFormat, Protocol, ProxyCredential


class Layout(StrEnum):
    """How one proxy becomes one line."""

    IP_PORT = "ip_port"  # 1.2.3.4:8080
    USER_PASS_AT = "user_pass_at"  # user:pass@1.2.3.4:8080
    IP_PORT_USER_PASS = "ip_port_user_pass"  # 1.2.3.4:8080:user:pass
    URL = "url"  # http://user:pass@1.2.3.4:8080 or socks5://…
    CSV = "csv"  # one row per proxy with every field


@dataclass(frozen=True, slots=True)
class ExportFormat:
    code: str  # short, goes into callback data
    layout: Layout
    protocol: Protocol | None  # None: the file carries both ports (CSV)
    label: str  # shown on the button; formats are not translated

    @property
    def from_api(self) -> bool:
        """Served by GET /orders/:id/download rather than built here."""
        return self.layout in (Layout.IP_PORT, Layout.USER_PASS_AT)

    @property
    def api_format(self) -> DownloadFormat:
        if self.layout is Layout.USER_PASS_AT:
            return DownloadFormat.USER_PASS_IP_PORT
        return DownloadFormat.IP_PORT

    @property
    def extension(self) -> str:
        return "csv" if self.layout is Layout.CSV else "txt"

    @property
    def mime_type(self) -> str:
        return "text/csv" if self.layout is Layout.CSV else "text/plain"


_H, _S = Protocol.HTTPS, Protocol.SOCKS5

# Labels are button texts, two to a row: "pw" (password) keeps the SOCKS5 ones within the
# 24 characters a phone shows (tests/test_keyboards.py).
FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("ih", Layout.IP_PORT, _H, "ip:port · HTTP"),
    ExportFormat("is", Layout.IP_PORT, _S, "ip:port · SOCKS5"),
    ExportFormat("uh", Layout.USER_PASS_AT, _H, "user:pw@ip:port · HTTP"),
    ExportFormat("us", Layout.USER_PASS_AT, _S, "user:pw@ip:port · SOCKS5"),
    ExportFormat("ph", Layout.IP_PORT_USER_PASS, _H, "ip:port:user:pw · HTTP"),
    ExportFormat("ps", Layout.IP_PORT_USER_PASS, _S, "ip:port:user:pw · SOCKS5"),
    ExportFormat("rh", Layout.URL, _H, "http://user:pw@ip:port"),
    ExportFormat("rs", Layout.URL, _S, "socks5://user:pw@ip:port"),
    ExportFormat("csv", Layout.CSV, None, "CSV (all fields)"),
)
FORMATS_BY_CODE: dict[str, ExportFormat] = {f.code: f for f in FORMATS}

CSV_HEADER = ("ip", "port_http", "port_socks5", "login", "password", "country", "expires_at")

# The spec's own example uses http:// for the "HTTPS" port: the proxy speaks HTTP CONNECT.
_SCHEMES = {Protocol.HTTPS: "http", Protocol.SOCKS5: "socks5"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def export_format(code: str) -> ExportFormat | None:
    return FORMATS_BY_CODE.get(code)


def file_name(order_id: str, proxy_type: str, fmt: ExportFormat) -> str:
    """``order-<id>-<type>-<layout>[-<protocol>].<ext>``, safe on every file system."""
    parts = ["order", order_id, proxy_type, fmt.layout.value]
    if fmt.protocol is not None:
        parts.append(fmt.protocol.value)
    safe = [_UNSAFE_NAME.sub("_", part).strip("_")[:40] or "x" for part in parts]
    return "-".join(safe) + "." + fmt.extension


def port_of(proxy: ProxyCredential, protocol: Protocol) -> int | None:
    return proxy.port_https if protocol == Protocol.HTTPS else proxy.port_socks5


def proxy_line(proxy: ProxyCredential, layout: Layout, protocol: Protocol) -> str | None:
    """One proxy in ``layout``; None when it lacks an address or a port for ``protocol``.

    A proxy without login/password (IP-authorised) is written without credentials
    rather than with empty ones, which tools would read as a blank user.
    """
    port = port_of(proxy, protocol)
    if not proxy.ip or port is None:
        return None
    address = f"{proxy.ip}:{port}"
    has_auth = bool(proxy.login) or bool(proxy.password)
    auth = f"{proxy.login or ''}:{proxy.password or ''}"
    if layout is Layout.IP_PORT:
        return address
    if layout is Layout.USER_PASS_AT:
        return f"{auth}@{address}" if has_auth else address
    if layout is Layout.IP_PORT_USER_PASS:
        return f"{address}:{auth}" if has_auth else address
    if layout is Layout.URL:
        scheme = _SCHEMES[Protocol(protocol)]
        return f"{scheme}://{auth}@{address}" if has_auth else f"{scheme}://{address}"
    raise ValueError(f"{layout} is not a one-line layout")


def proxy_lines(
    proxies: Iterable[ProxyCredential], layout: Layout, protocol: Protocol
) -> list[str]:
    lines = (proxy_line(p, layout, protocol) for p in proxies)
    return [line for line in lines if line is not None]


def render_csv(proxies: Iterable[ProxyCredential]) -> str:
    """Every field, one row per proxy; missing values are empty cells.

    Values are written as they are (no spreadsheet-formula escaping): the file is
    meant for proxy tools, which must get the exact password.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for p in proxies:
        writer.writerow(
            (
                p.ip or "",
                "" if p.port_https is None else p.port_https,
                "" if p.port_socks5 is None else p.port_socks5,
                p.login or "",
                p.password or "",
                p.country or "",
                p.expires_at.isoformat() if p.expires_at else "",
            )
        )
    return buffer.getvalue()


def render_local(proxies: list[ProxyCredential], fmt: ExportFormat) -> str:
    """The file body of a locally generated format."""
    if fmt.layout is Layout.CSV:
        return render_csv(proxies)
    assert fmt.protocol is not None
    lines = proxy_lines(proxies, fmt.layout, fmt.protocol)
    return "".join(line + "\n" for line in lines)
