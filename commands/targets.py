"""Where a webhook may be sent: the address policy against SSRF, as pure functions.

Checked twice: statically when a merchant sets the URL (scheme, credentials, literal addresses in any of their
spellings, well-known internal names), and at delivery against every address the host resolved to, which is
then the address connected to (no second lookup a rebinding DNS server could answer differently).
"""

import functools
import ipaddress
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud instance-metadata services, refused whatever the network policy: no webhook has business there.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEC, _OCT, _HEX = frozenset("0123456789"), frozenset("01234567"), frozenset("0123456789abcdef")


class Refused(ValueError):
    """The URL or an address it resolved to is not a permitted webhook destination; the text says why."""


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read as inet_aton(3) reads it, which is how resolvers take "2130706433", "0x7f000001",
    "0177.0.0.1" or "127.1" for 127.0.0.1; None when it is not such a form."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        low = part.lower()
        if low.startswith("0x") and all(c in _HEX for c in low[2:]):
            values.append(int(low[2:] or "0", 16))
        elif low.startswith("0") and len(low) > 1:
            if not all(c in _OCT for c in low):
                return None
            values.append(int(low, 8))
        elif low and all(c in _DEC for c in low):
            values.append(int(low))
        else:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in head:
        number = number << 8 | v
    return ipaddress.IPv4Address(number << 8 * (5 - len(values)) | last)


def parse_ip(host: str) -> IPAddress | None:
    """A literal address in ``host`` (IPv6 without brackets, IPv4 in any inet_aton form), else None."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(unquote(host))  # a zone id comes as "%25eth0" in a URL
        except ValueError:
            return None
    return parse_ipv4(host)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which is where packets end up."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_forbidden(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``ip`` is not a permitted destination (None: it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None and (reason := why_forbidden(inner, allow_private=allow_private)):
            return reason
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allow_private:
        return None
    for kind, hit in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved or not ip.is_global),
    ):
        if hit:
            return f"{kind} address"
    return None


def _name_forbidden(host: str, *, allow_private: bool) -> str | None:
    if host in METADATA_NAMES:
        return "a cloud metadata host"
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        return "a loopback host"
    return None


@functools.lru_cache(maxsize=1024)  # a pure function of its arguments: every delivery checks its URL again
def check_url(url: str, *, allow_private: bool, require_https: bool) -> None:
    """What can be known of ``url`` without resolving it (a URL that passes is remembered; one refused is not).

    Raises:
        Refused: credentials in it, a scheme not allowed, or a host that is or names a forbidden address.
    """
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise Refused("url must be a valid http(s) URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise Refused("url must be a valid http(s) URL")
    if require_https and parts.scheme != "https":
        raise Refused("url must use https")
    if "@" in parts.netloc:
        raise Refused("url must not contain credentials (user:password@)")
    host = hostname.rstrip(".")
    if reason := _name_forbidden(host, allow_private=allow_private):
        raise Refused(f"url must not point to {reason}")
    ip = parse_ip(host)
    last = host.rsplit(".", 1)[-1].lower()
    if ip is None and ":" not in host and (last.startswith("0x") or (last and all(c in _DEC for c in last))):
        raise Refused("url host is not a valid address")  # no top-level domain is numeric: refuse, not guess
    if ip is not None and (reason := why_forbidden(ip, allow_private=allow_private)):
        raise Refused(f"url must not point to {reason}")


def check_addresses(host: str, addresses: list[str], *, allow_private: bool) -> list[str]:
    """The resolved ``addresses`` of ``host``, in order, once every one of them is permitted.

    Raises:
        Refused: any of them is forbidden (a name that resolves partly inward is refused as a whole), or none.
    """
    if not addresses:
        raise Refused("the host resolved to no address")
    for address in addresses:
        reason = why_forbidden(ipaddress.ip_address(address.split("%", 1)[0]), allow_private=allow_private)
        if reason:
            raise Refused(f"{host} resolves to {reason}, which webhooks may not reach")
    return list(dict.fromkeys(addresses))
