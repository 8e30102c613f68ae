"""Unit tests of the downloader's safety rules: address classes, schemes, ids. No network."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from fashion_core.download import safety
from fashion_core.download.safety import (
    address_kind,
    check_address,
    check_url,
    resolve_checked,
)
from fashion_core.errors import UnsafeURLError
from fashion_core.paths import image_id_problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", "public"),
        ("2606:4700::6810:85e5", "public"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT: not globally routable
        ("fc00::1", "private"),
        ("fec0::1", "private"),  # deprecated site-local
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:8.8.8.8", "public"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_address_kind(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "192.168.0.7", "::ffff:10.0.0.1"])
def test_allow_private_lifts_loopback_and_private_only(address: str) -> None:
    with pytest.raises(UnsafeURLError, match="refused address"):
        check_address(address)
    check_address(address, allow_private=True)  # no error


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fe80::1%eth0", "224.0.0.251", "0.0.0.0", "240.1.1.1"]
)
def test_some_addresses_stay_refused_with_allow_private(address: str) -> None:
    with pytest.raises(UnsafeURLError, match="refused address"):
        check_address(address, allow_private=True)


def test_public_address_is_allowed() -> None:
    check_address("8.8.8.8")
    check_address(ipaddress.ip_address("2001:4860:4860::8888"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.jpg", "bad scheme: ftp"),
        ("file:///etc/passwd", "bad scheme: file"),
        ("gopher://example.com/", "bad scheme: gopher"),
        ("javascript:alert(1)", "bad scheme: javascript"),
        ("//example.com/a.jpg", "bad scheme: none"),
        ("http:///a.jpg", "bad URL: no host"),
        ("http://example.com:99999/a.jpg", "bad URL"),
        ("http://127.0.0.1/a.jpg", r"refused address 127.0.0.1 \(loopback\)"),
        ("http://[::1]:8080/a.jpg", r"refused address ::1 \(loopback\)"),
        ("https://10.1.2.3/a.jpg", r"refused address 10.1.2.3 \(private\)"),
        ("http://169.254.169.254/latest/meta-data/", r"refused address 169.254.169.254 \(link-local\)"),
    ],
)
def test_check_url_refuses(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError, match=message):
        check_url(url)


def test_check_url_accepts_http_and_https_names_without_resolving(monkeypatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("check_url must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert check_url("https://img.example.com/x/1.jpg").hostname == "img.example.com"
    assert check_url("HTTP://Example.COM:8080/a.jpg").port == 8080
    assert check_url("http://10.0.0.5/a.jpg", allow_private=True).hostname == "10.0.0.5"


def _fake_resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo


def test_resolve_checked_checks_every_address(monkeypatch) -> None:
    monkeypatch.setattr(safety.socket, "getaddrinfo", _fake_resolver("93.184.216.34", "10.0.0.8"))
    with pytest.raises(UnsafeURLError, match=r"refused address 10.0.0.8 \(private\)"):
        resolve_checked("mixed.example", 80)
    assert resolve_checked("mixed.example", 80, allow_private=True) == ["93.184.216.34", "10.0.0.8"]


def test_resolve_checked_returns_unique_public_addresses(monkeypatch) -> None:
    monkeypatch.setattr(
        safety.socket, "getaddrinfo", _fake_resolver("93.184.216.34", "93.184.216.34", "2606:4700::1")
    )
    assert resolve_checked("img.example", 443) == ["93.184.216.34", "2606:4700::1"]


def test_resolve_checked_refuses_rebinding_to_metadata(monkeypatch) -> None:
    monkeypatch.setattr(safety.socket, "getaddrinfo", _fake_resolver("169.254.169.254"))
    with pytest.raises(UnsafeURLError, match="link-local"):
        resolve_checked("innocent.example", 80, allow_private=True)


@pytest.mark.parametrize(
    "image_id",
    [
        "",
        "..",
        ".",
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "x..y",
        ".hidden",
        "a:b",
        "a\x00b",
        "tab\there",
        " pad",
        "x" * 201,
    ],
)
def test_unsafe_ids_are_refused(image_id: str) -> None:
    assert image_id_problem(image_id) is not None


@pytest.mark.parametrize("image_id", ["1234567", "abc_DEF-09", "img.v2", "商品 123", "x" * 200])
def test_safe_ids_pass(image_id: str) -> None:
    assert image_id_problem(image_id) is None
