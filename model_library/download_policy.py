"""What a download may reach and how large and long it may be: the server fetches URLs that web clients name.

A URL from a browser must not make the server reach its own loopback services, the LAN or a cloud metadata
endpoint (SSRF), however the address is spelled (`2130706433`, `0x7f.1`, `::ffff:127.0.0.1`, a name that resolves
there). So a host name is resolved once, every address it resolves to is checked, and the connection goes to a
checked address itself: a DNS answer that changes between the check and the connect cannot slip through. Redirects
are followed by the caller, one hop at a time, so each hop's connection is checked the same way.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from dataclasses import dataclass
from typing import Callable, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
AddressRule = Callable[[IPAddress, int], bool]  # (address, port) -> may a download connect there

GiB = 1 << 30
# is_global misses part of this block in some Python versions; Oracle Cloud's metadata endpoint 192.0.0.192 is in it
_IETF_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressNotAllowed(Exception):
    """A download was about to connect to an address its policy refuses (no connection was made)."""


def is_public_address(address: IPAddress) -> bool:
    """Whether `address` is an ordinary public internet address: not loopback, private, link-local (cloud metadata
    169.254.169.254), shared (100.64/10), unspecified, multicast or reserved; IPv6 forms that carry an IPv4
    address (mapped, compatible, NAT64, 6to4, Teredo) are judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = _carried_ipv4(address)
        if carried is not None:
            if address.ipv4_mapped or address in _IPV4_COMPATIBLE or any(address in n for n in _NAT64):
                return is_public_address(carried)  # these reach exactly that IPv4 address
            if not is_public_address(carried):
                return False
    if isinstance(address, ipaddress.IPv4Address) and address in _IETF_PROTOCOL_ASSIGNMENTS:
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _IPV4_COMPATIBLE or any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def public_addresses_only(address: IPAddress, port: int) -> bool:
    """The rule of a server that takes URLs from web clients."""
    return is_public_address(address)


def checked_addresses(host: str, port: int, allowed: AddressRule) -> list[tuple]:
    """getaddrinfo's answers for host:port, after checking every one of them; AddressNotAllowed if any is refused
    (a name that resolves to one public and one private address is refused as a whole)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in answers:
        if not allowed(ipaddress.ip_address(sockaddr[0]), port):
            raise AddressNotAllowed(host)
    return answers


def connect_checked(address: tuple[str, int], timeout: object = socket._GLOBAL_DEFAULT_TIMEOUT,
                    source_address: tuple[str, int] | None = None, *, allowed: AddressRule) -> socket.socket:
    """socket.create_connection, but only to addresses `allowed` accepts, and to the very address checked."""
    host, port = address
    last_error: OSError | None = None
    for family, kind, protocol, _, sockaddr in checked_addresses(host, port, allowed):
        connection = socket.socket(family, kind, protocol)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                connection.settimeout(timeout)
            if source_address:
                connection.bind(source_address)
            connection.connect(sockaddr)
            return connection
        except OSError as error:
            connection.close()
            last_error = error
    raise last_error or OSError(f"{host} has no address")


@dataclass(frozen=True)
class DownloadPolicy:
    """Where a download may connect and how large and long it may be.

    The default is the server's: public addresses only, at most 32 GiB (the largest checkpoints in use are
    around 24 GB), no byte for 60 s ends the attempt, 12 hours in all. `latentloom models install` runs as the
    machine's owner and uses `OWNER_POLICY`.
    """

    allowed: AddressRule | None = public_addresses_only  # None: any address, through HTTP(S)_PROXY when set
    max_bytes: int | None = 32 * GiB
    stall_s: float = 60.0  # no byte for this long: the attempt failed
    time_limit_s: float | None = 12 * 3600.0
    max_redirects: int = 10

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener that connects only where this policy allows and never follows redirects itself."""
        handlers: list[urllib.request.BaseHandler] = [_NoAutomaticRedirects()]
        if self.allowed is not None:
            # a proxy would connect on our behalf to addresses we cannot check, so none is used
            handlers += [urllib.request.ProxyHandler({}), _CheckedHTTPHandler(self.allowed),
                         _CheckedHTTPSHandler(self.allowed)]
        return urllib.request.build_opener(*handlers)


OWNER_POLICY = DownloadPolicy(allowed=None, max_bytes=None, time_limit_s=None)


class _NoAutomaticRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is returned as an HTTPError, so the caller follows it and checks each hop."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _checked_connection(connection_class: type[http.client.HTTPConnection], allowed: AddressRule):
    def make(host: str, **kwargs) -> http.client.HTTPConnection:
        connection = connection_class(host, **kwargs)
        # http.client opens its socket through this attribute; TLS still verifies the certificate for `host`
        connection._create_connection = lambda address, timeout, source=None: connect_checked(
            address, timeout, source, allowed=allowed)
        return connection

    return make


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allowed: AddressRule) -> None:
        super().__init__()
        self._connection = _checked_connection(http.client.HTTPConnection, allowed)

    def http_open(self, req):
        return self.do_open(self._connection, req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allowed: AddressRule) -> None:
        super().__init__()
        self._connection = _checked_connection(http.client.HTTPSConnection, allowed)

    def https_open(self, req):
        return self.do_open(self._connection, req, context=self._context)


__all__ = ["AddressNotAllowed", "AddressRule", "DownloadPolicy", "OWNER_POLICY", "checked_addresses",
           "connect_checked", "is_public_address", "public_addresses_only"]
