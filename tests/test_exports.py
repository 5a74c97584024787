"""Proxy-list formats built locally (services/exports.py): lines, CSV and file names."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from proxy_api import Protocol, ProxyCredential
from services.exports import (
    CSV_HEADER,
    FORMATS,
    Layout,
    export_format,
    file_name,
    proxy_line,
    render_local,
)


def cred(**fields: object) -> ProxyCredential:
    base: dict[str, object] = {
        "ip": "185.117.1.2",
        "portHttps": 8080,
        "portSocks5": 1080,
        "login": "user_ab",
        "password": "p@ss:word",
        "country": "US",
        "expiresAt": "2026-02-01",
    }
    base.update(fields)
    return ProxyCredential.model_validate(base)


def test_format_codes_are_unique_short_and_cover_every_api_combination() -> None:
    codes = [f.code for f in FORMATS]
    assert len(codes) == len(set(codes))
    assert all(len(code) <= 4 for code in codes)
    api = {(f.api_format.value, f.protocol.value) for f in FORMATS if f.from_api}
    assert api == {
        ("ip:port", "https"),
        ("ip:port", "socks5"),
        ("user:pass@ip:port", "https"),
        ("user:pass@ip:port", "socks5"),
    }
    local = {f.layout for f in FORMATS if not f.from_api}
    assert local == {Layout.IP_PORT_USER_PASS, Layout.URL, Layout.CSV}
    assert export_format("nope") is None


@pytest.mark.parametrize(
    ("layout", "protocol", "expected"),
    [
        (Layout.IP_PORT, Protocol.HTTPS, "185.117.1.2:8080"),
        (Layout.IP_PORT, Protocol.SOCKS5, "185.117.1.2:1080"),
        (Layout.USER_PASS_AT, Protocol.HTTPS, "user_ab:p@ss:word@185.117.1.2:8080"),
        (Layout.IP_PORT_USER_PASS, Protocol.SOCKS5, "185.117.1.2:1080:user_ab:p@ss:word"),
        (Layout.URL, Protocol.HTTPS, "http://user_ab:p@ss:word@185.117.1.2:8080"),
        (Layout.URL, Protocol.SOCKS5, "socks5://user_ab:p@ss:word@185.117.1.2:1080"),
    ],
)
def test_proxy_line_layouts(layout: Layout, protocol: Protocol, expected: str) -> None:
    assert proxy_line(cred(), layout, protocol) == expected


def test_proxy_without_credentials_is_written_without_an_empty_user() -> None:
    open_proxy = cred(login=None, password=None)
    assert proxy_line(open_proxy, Layout.IP_PORT_USER_PASS, Protocol.HTTPS) == "185.117.1.2:8080"
    assert proxy_line(open_proxy, Layout.URL, Protocol.SOCKS5) == "socks5://185.117.1.2:1080"


def test_proxy_missing_address_or_port_is_skipped() -> None:
    assert proxy_line(cred(ip=None), Layout.IP_PORT, Protocol.HTTPS) is None
    assert proxy_line(cred(portSocks5=None), Layout.URL, Protocol.SOCKS5) is None
    fmt = export_format("rs")
    assert fmt is not None
    body = render_local([cred(portSocks5=None), cred(ip="45.139.0.9")], fmt)
    assert body == "socks5://user_ab:p@ss:word@45.139.0.9:1080\n"


def test_csv_has_a_header_and_every_field_round_trips() -> None:
    fmt = export_format("csv")
    assert fmt is not None and fmt.extension == "csv"
    tricky = cred(password='a,"b"\nc', country=None, expiresAt=None)
    body = render_local([cred(), tricky], fmt)
    rows = list(csv.reader(io.StringIO(body)))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1] == ["185.117.1.2", "8080", "1080", "user_ab", "p@ss:word", "US", "2026-02-01"]
    assert rows[2][4] == 'a,"b"\nc' and rows[2][5:] == ["", ""]
    assert len(rows) == 3


def test_local_text_formats_one_line_per_proxy() -> None:
    proxies = [cred(ip=f"185.117.1.{n}") for n in range(1, 4)]
    fmt = export_format("ph")
    assert fmt is not None
    assert render_local(proxies, fmt).splitlines() == [
        f"185.117.1.{n}:8080:user_ab:p@ss:word" for n in range(1, 4)
    ]
    assert render_local([], fmt) == ""


def test_file_names_say_order_type_and_format_and_are_safe() -> None:
    by_code = {f.code: f for f in FORMATS}
    assert file_name("cm1abc", "ipv4", by_code["uh"]) == "order-cm1abc-ipv4-user_pass_at-https.txt"
    assert file_name("cm1abc", "mix_isp", by_code["csv"]) == "order-cm1abc-mix_isp-csv.csv"
    hostile = file_name("../../etc/passwd", "ipv4", by_code["is"])
    assert "/" not in hostile and ".." not in hostile
    assert hostile.endswith("-ipv4-ip_port-socks5.txt")
    names = {file_name("cm1abc", "ipv4", f) for f in FORMATS}
    assert len(names) == len(FORMATS)


def test_expiry_dates_are_iso_in_csv() -> None:
    fmt = export_format("csv")
    assert fmt is not None
    body = render_local([cred(expiresAt=date(2027, 12, 31).isoformat())], fmt)
    assert "2027-12-31" in body
