"""Safety rules of the downloader: which schemes, addresses and image ids may be used.

Address policy (``allow_private`` lifts only the first group):

- ``loopback``, ``private`` (RFC 1918, unique-local IPv6, carrier-grade NAT and other ranges that
  are not globally routable): refused by default, allowed with ``allow_private`` so users on an
  intranet (and tests on 127.0.0.1) can download.
- ``unspecified`` (``0.0.0.0/8``, ``::``), ``link-local`` (``169.254.0.0/16``, ``fe80::/10``, where
  cloud metadata services live), ``multicast`` and ``reserved``: always refused. No image host lives
  there, and ``169.254.169.254`` is the classic target of server-side request forgery.

IPv6 forms that embed an IPv4 address (mapped ``::ffff:a.b.c.d``, 6to4, NAT64, Teredo) are judged
by the embedded address too, so ``::ffff:127.0.0.1`` cannot sneak past the loopback rule.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from fashion_core.errors import UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: frozenset[str] = frozenset({"http", "https"})
LIFTED_BY_ALLOW_PRIVATE: frozenset[str] = frozenset({"loopback", "private"})
ALWAYS_REFUSED: frozenset[str] = frozenset({"unspecified", "link-local", "multicast", "reserved"})

# Characters that make an id unusable as a file name on some system we may share files with.

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_kind(ip: IPAddress) -> str:
    """Classify one address as ``public`` or the reason it is special.

    Args:
        ip: An IPv4 or IPv6 address.

    Returns:
        One of ``public``, ``loopback``, ``private``, ``unspecified``, ``link-local``,
        ``multicast`` or ``reserved``. For IPv6 forms embedding an IPv4 address, the stricter of
        the two verdicts.
    """
    kinds = [_plain_kind(ip)] + [_plain_kind(inner) for inner in _embedded_ipv4(ip)]
    for kind in ("unspecified", "link-local", "multicast", "reserved", "loopback", "private"):
        if kind in kinds:
            return kind
    return "public"


def _plain_kind(ip: IPAddress) -> str:
    # Order matters: Python counts loopback and link-local as "private" too.
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "unspecified"  # on Linux, connecting to 0.0.0.0 reaches the local host
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 6 and (ip in _NAT64 or ip.ipv4_mapped is not None):
        return "public"  # judged by the embedded IPv4 address instead
    if ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global or (ip.version == 6 and ip.is_site_local):
        return "private"
    return "public"


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    if ip.version == 4:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour]
    if ip.teredo is not None:
        found.append(ip.teredo[1])
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


def check_address(ip: IPAddress | str, *, allow_private: bool = False) -> None:
    """Raise UnsafeURLError if the downloader must not connect to ``ip``.

    Args:
        ip: The address (object or text; an IPv6 zone suffix like ``%eth0`` is ignored).
        allow_private: Lift the loopback/private rule (link-local, multicast, reserved and
            unspecified stay refused).

    Raises:
        UnsafeURLError: with the message ``refused address <ip> (<kind>)``.
    """
    address = ipaddress.ip_address(str(ip).split("%", 1)[0]) if isinstance(ip, str) else ip
    kind = address_kind(address)
    if kind == "public" or (allow_private and kind in LIFTED_BY_ALLOW_PRIVATE):
        return
    raise UnsafeURLError(f"refused address {address} ({kind})")


def check_url(url: str, *, allow_private: bool = False) -> SplitResult:
    """Check what can be checked without the network: scheme, host, and literal IP hosts.

    Host names are checked later, when the connection is made (see ``resolve_checked``), so a
    name that resolves to a refused address is caught as well.

    Args:
        url: The URL to fetch (from the list or from a redirect).
        allow_private: See ``check_address``.

    Returns:
        The split URL.

    Raises:
        UnsafeURLError: ``bad scheme: ...`` for anything but http/https, ``bad URL: ...`` when
            the host or port is missing or malformed, ``refused address ...`` for a refused
            literal address.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UnsafeURLError(f"bad URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError(f"bad scheme: {scheme or 'none'}")
    host = parts.hostname
    if not host:
        raise UnsafeURLError("bad URL: no host")
    literal = _literal_ip(host)
    if literal is not None:
        check_address(literal, allow_private=allow_private)
    return parts


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve_checked(host: str, port: int, *, allow_private: bool = False) -> list[str]:
    """Resolve ``host`` and check every address it resolves to.

    Every address is checked, not only the first, so a name that answers with one public and
    one private address is refused as a whole.

    Args:
        host: Host name or literal address.
        port: TCP port.
        allow_private: See ``check_address``.

    Returns:
        The resolved addresses (text), in resolver order, without duplicates.

    Raises:
        UnsafeURLError: if any address is refused.
        socket.gaierror: if the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        check_address(address, allow_private=allow_private)
    return addresses
