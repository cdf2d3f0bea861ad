"""A SOCKADDR record's socket address: the raw ``saddr=`` hex, or auditd's ``SADDR={ ... }`` text.

Family names are the ones Auditbeat and Elastic's auditd_manager write (``unix``, ``ipv4``, ``ipv6``,
``netlink``; any other family as its number), so documents match what Elastic's rules were tuned on.
Bad input gives None or a family-only address, never an exception.
"""

from __future__ import annotations

import binascii
import ipaddress
from dataclasses import dataclass

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
FAMILY_NAMES = {AF_UNIX: "unix", AF_INET: "ipv4", AF_INET6: "ipv6", AF_NETLINK: "netlink"}
# auditd's names in SADDR= (and in ausearch -i output) → ours
_AUDITD_FAMILIES = {"local": "unix", "unix": "unix", "inet": "ipv4", "inet6": "ipv6", "netlink": "netlink"}
SOCKADDR_IN_BYTES = 8  # family, port, IPv4 address (the zero padding after it is optional)
SOCKADDR_IN6_BYTES = 24  # family, port, flow info, IPv6 address (scope id after it)


@dataclass(frozen=True, slots=True)
class SockAddr:
    """A decoded socket address; what the record does not carry is None."""

    family: str
    address: str | None = None  # IPv4 or IPv6 text; an IPv4-mapped IPv6 address as IPv4, as Auditbeat writes it
    port: int | None = None
    path: str | None = None  # unix sockets; abstract ones start with "@"


def decode_saddr(saddr: bytes) -> SockAddr | None:
    """The address in a raw ``saddr=`` value; None when it is not hex or too short to hold a family."""
    try:
        raw = binascii.unhexlify(saddr)
    except (binascii.Error, ValueError, TypeError):
        return None
    if len(raw) < 2:
        return None
    family = _family(raw[0], raw[1])
    name = FAMILY_NAMES.get(family, str(family))
    if family == AF_INET and len(raw) >= SOCKADDR_IN_BYTES:
        return SockAddr(name, ".".join(map(str, raw[4:8])), int.from_bytes(raw[2:4], "big"))
    if family == AF_INET6 and len(raw) >= SOCKADDR_IN6_BYTES:
        return SockAddr(name, _ipv6_text(ipaddress.IPv6Address(raw[8:24])), int.from_bytes(raw[2:4], "big"))
    if family == AF_UNIX and len(raw) > 2:
        return SockAddr(name, path=_unix_path(raw[2:]))
    return SockAddr(name)


def _family(first: int, second: int) -> int:
    # sa_family is host-endian and the record does not say the host's byte order; every family
    # number is below 256, so the zero byte tells (laurel's record-bind-ipv4-bigendian sample, s390x).
    if second == 0 or first != 0:
        return first | second << 8
    return second


def _unix_path(path: bytes) -> str:
    # A leading NUL marks an abstract name: its bytes run to the address length, not to a NUL.
    if path[0] == 0:
        return "@" + path[1:].rstrip(b"\0").decode("utf-8", "backslashreplace")
    return path.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def _ipv6_text(address: ipaddress.IPv6Address) -> str:
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else str(address)


def parse_enriched_saddr(text: str) -> SockAddr | None:
    """The address in auditd's interpretation, ``{ fam=inet laddr=10.0.0.1 lport=443 }``; None without one.

    ENRICHED logs carry it as ``SADDR=``, ``ausearch -i`` output as ``saddr=``; older auditd writes
    ``saddr_fam=`` for ``fam=``. Phrases such as ``unknown family(0)`` name no family: None.
    """
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    inner = inner[1:-1].strip()
    words = inner.split(" ")
    fields = dict(word.partition("=")[::2] for word in words if "=" in word)
    family = fields.get("fam") or fields.get("saddr_fam")
    if not family:
        return None
    name = _AUDITD_FAMILIES.get(family, family)
    if "path" in fields:
        # The path is last and printed as is: spaces and all.
        return SockAddr(name, path=inner[inner.index("path=") + 5:])
    address = _ip_text(fields.get("laddr"))
    port = fields.get("lport", "")
    return SockAddr(name, address, int(port) if port.isdigit() and port.isascii() else None)


def _ip_text(text: str | None) -> str | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return _ipv6_text(address) if isinstance(address, ipaddress.IPv6Address) else str(address)
