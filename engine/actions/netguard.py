"""Where the ``http`` action may connect: decided once per hop, then kept to.

Server-side request forgery is refused here, in three steps:

* a host becomes addresses once. Numeric forms the C library accepts (``2130706433``,
  ``0x7f.1``, ``0177.1``, ``127.1``) are parsed here, never sent to DNS; names are resolved
  once (``services["resolve"]`` may replace the system resolver);
* every address is judged. IPv6 forms that carry an IPv4 address (mapped, translated,
  compatible, NAT64, 6to4, Teredo, ISATAP) are judged by that address as well, so
  ``[::ffff:127.0.0.1]`` or ``[64:ff9b::a9fe:a9fe]`` are what they stand for;
* the connection goes to a checked address and nowhere else. ``PinnedTransport`` gives httpx
  a network backend that maps the host name to the addresses checked for it, so there is no
  second DNS lookup (DNS rebinding), while the Host header, TLS SNI and the certificate check
  keep the name. A host nobody checked is never connected to.

``EngineSettings.extra["http_allow"]`` (``WORKFLOW_HTTP_ALLOW``) names hosts or networks that
may be called although special; an embedded IPv4 address inside an allowed network counts too.

The connections themselves live in ``httppool.pooled_transport``'s pool (the ``llm`` action's too).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from ..errors import ActionError
from .httppool import pooled_transport

_V4 = IPv4Network
_V6 = IPv6Network
_IPV4_RULES: list[tuple[IPv4Network, str, str]] = [  # (network, kind, note); first match wins
    (_V4("169.254.169.254/32"), "link-local", "cloud metadata"),
    (_V4("100.100.100.200/32"), "shared (CGNAT)", "cloud metadata"),
    (_V4("168.63.129.16/32"), "cloud platform", "cloud metadata"),
    (_V4("192.0.0.192/32"), "reserved", "cloud metadata"),
    (_V4("0.0.0.0/8"), "unspecified", ""),
    (_V4("10.0.0.0/8"), "private", ""),
    (_V4("100.64.0.0/10"), "shared (CGNAT)", ""),
    (_V4("127.0.0.0/8"), "loopback", ""),
    (_V4("169.254.0.0/16"), "link-local", ""),
    (_V4("172.16.0.0/12"), "private", ""),
    (_V4("192.0.0.0/24"), "reserved", ""),
    (_V4("192.0.2.0/24"), "reserved", "documentation"),
    (_V4("192.88.99.0/24"), "reserved", "6to4 relay"),
    (_V4("192.168.0.0/16"), "private", ""),
    (_V4("198.18.0.0/15"), "reserved", "benchmarking"),
    (_V4("198.51.100.0/24"), "reserved", "documentation"),
    (_V4("203.0.113.0/24"), "reserved", "documentation"),
    (_V4("224.0.0.0/4"), "multicast", ""),
    (_V4("240.0.0.0/4"), "reserved", ""),
]
_IPV6_RULES: list[tuple[IPv6Network, str, str]] = [
    (_V6("fd00:ec2::254/128"), "private", "cloud metadata"),
    (_V6("::/128"), "unspecified", ""),
    (_V6("::1/128"), "loopback", ""),
    (_V6("::/96"), "reserved", "IPv4-compatible"),
    (_V6("64:ff9b:1::/48"), "private", "local-use NAT64"),
    (_V6("100::/64"), "reserved", "discard-only"),
    (_V6("2001::/23"), "reserved", ""),
    (_V6("2001:db8::/32"), "reserved", "documentation"),
    (_V6("3fff::/20"), "reserved", "documentation"),
    (_V6("5f00::/16"), "reserved", ""),
    (_V6("fc00::/7"), "private", ""),
    (_V6("fe80::/10"), "link-local", ""),
    (_V6("fec0::/10"), "private", "site-local"),
    (_V6("ff00::/8"), "multicast", ""),
]
_GLOBAL_UNICAST = _V6("2000::/3")
_MAPPED = _V6("::ffff:0:0/96")
_TRANSLATED = _V6("::ffff:0:0:0/96")
_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_LOCAL_NAT64 = _V6("64:ff9b:1::/48")
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class Refused(ActionError):
    """The URL points somewhere the server may not call."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


# -- what an address is ------------------------------------------------------------------------------
def embedded_ipv4(ip: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of its form."""
    n = int(ip)
    low = IPv4Address(n & 0xFFFFFFFF)
    found: list[tuple[str, IPv4Address]] = []
    if ip in _MAPPED:
        found.append(("IPv4-mapped", low))
    elif ip in _TRANSLATED:
        found.append(("IPv4-translated", low))
    elif ip in _COMPATIBLE and n > 1:  # :: and ::1 are themselves
        found.append(("IPv4-compatible", low))
    elif ip in _NAT64 or ip in _LOCAL_NAT64:
        found.append(("NAT64", low))
    elif ip.sixtofour is not None:
        found.append(("6to4", ip.sixtofour))
    elif ip.teredo is not None:
        server, client = ip.teredo
        found += [("Teredo client", client), ("Teredo server", server)]
    if (n >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        found.append(("ISATAP", low))
    return found


def _v4_rule(ip: IPv4Address) -> tuple[str, str] | None:
    for network, kind, note in _IPV4_RULES:
        if ip in network:
            return kind, note
    if not ip.is_global or ip.is_multicast:
        return "non-public", ""
    return None


def why_special(ip: IPv4Address | IPv6Address) -> tuple[str, str] | None:
    """Why this address may not be called, or None if it is public.

    Returns ``(what, carried)``: ``("a loopback address", "")``, or for an IPv6 form that carries
    a special IPv4 address ``("a loopback address", "127.0.0.1 (6to4)")``.
    """
    if ip.version == 4:
        rule = _v4_rule(ip)
        return (_words(*rule), "") if rule else None
    embedded = embedded_ipv4(ip)
    for form, inner in embedded:
        rule = _v4_rule(inner)
        if rule:
            return _words(*rule), f"{inner} ({form})"
    # these forms reach the IPv4 address they carry: judged by it alone
    translated = ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64
    if embedded and (translated or ip.sixtofour is not None or ip.teredo is not None):
        return None
    for network, kind, note in _IPV6_RULES:
        if ip in network:
            return _words(kind, note), ""
    if ip not in _GLOBAL_UNICAST or ip.is_multicast:
        return _words("reserved", ""), ""
    if not ip.is_global:
        return _words("non-public", ""), ""
    return None


def _words(kind: str, note: str) -> str:
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind} address" + (f" ({note})" if note else "")


def numeric_host(host: str) -> IPv4Address | IPv6Address | None:
    """The address a numeric host means, as the C library reads it (inet_aton), or None for a name.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1`` all mean 127.0.0.1. A host made of
    numbers that is no valid address (``09.1``, ``4294967296``) is refused, never looked up.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if not 1 <= len(labels) <= 4 or not all(_NUMBER.match(label) for label in labels):
        return None
    try:
        values = [_label_value(label) for label in labels]
    except ValueError:  # 08, 0x1g: numbers the C library refuses too
        raise Refused(f"refused: {host} is not a valid IPv4 address") from None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise Refused(f"refused: {host} is not a valid IPv4 address")
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return IPv4Address(number)


def _label_value(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label[0] == "0":
        return int(label, 8)
    return int(label)


# -- checking a host ---------------------------------------------------------------------------------
async def check_host(host: str, allow=(), resolve=None) -> tuple[str, ...]:
    """Resolve ``host`` once, refuse it if any address is special (unless allowed); return them.

    The addresses returned are the only ones the request may connect to (see ``PinnedBackend``).
    """
    allow = [str(a).strip().lower() for a in allow or ()]
    literal = numeric_host(host)
    addresses = [literal] if literal is not None else await _resolve(host, resolve)
    if host.lower() in allow:
        return tuple(str(ip) for ip in addresses)
    networks = [net for net in map(_network, allow) if net is not None]
    for ip in addresses:
        reason = why_special(ip)
        if reason and not _allowed(ip, networks):
            raise Refused(f"refused: {_explain(host, ip, literal is not None, *reason)}; allow it with the "
                          f"http_allow setting (WORKFLOW_HTTP_ALLOW)")
    return tuple(str(ip) for ip in addresses)


def _explain(host: str, ip, literal: bool, what: str, carried: str) -> str:
    if literal and str(ip) == host:
        return f"{host} carries {carried}, {what}" if carried else f"{host} is {what}"
    lead = f"{host} is {ip}, " if literal else f"{host} resolves to {ip}, "
    return lead + (f"which carries {carried}, {what}" if carried else what)


async def _resolve(host: str, resolve) -> list:
    if resolve is not None:
        answers = list(await resolve(host))
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ActionError(f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}") from None
        answers = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    addresses = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(str(answer))
        except ValueError:
            raise Refused(f"refused: {host} resolves to {answer!r}, which is no address") from None
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ActionError(f"cannot resolve {host}: no addresses")
    return addresses


def _network(text: str):
    try:
        return ip_network(text, strict=False)
    except ValueError:
        return None


def _allowed(ip, networks) -> bool:
    candidates = [ip] + ([inner for _, inner in embedded_ipv4(ip)] if ip.version == 6 else [])
    return any(c.version == net.version and c in net for c in candidates for net in networks)


# -- connecting only where it was checked ----------------------------------------------------------------
def pinned_transport(pins: dict[str, tuple[str, ...]], limits):
    """An httpx transport whose connections go only to ``pins[host]``, the checked addresses."""
    import httpcore

    def connect(inner):
        async def connect_tcp(host, port, timeout=None, local_address=None, socket_options=None):
            addresses = pins.get(host)
            if not addresses:
                raise httpcore.ConnectError(f"{host} was not checked before connecting")
            error: Exception | None = None
            for address in addresses:  # in the resolver's order, like socket.create_connection
                try:
                    return await inner.connect_tcp(address, port, timeout, local_address, socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    error = exc
            raise error
        return connect_tcp

    return pooled_transport(limits, connect)
