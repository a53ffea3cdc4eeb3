"""Where a webhook may be sent: never into our own network (SSRF).

A webhook URL comes from a participant's profile or a program's settings, so it is input. Before
each send its host is resolved, and the send is refused when:
- the URL is not https (a plain http URL would carry the message and its signature in clear);
- any address the host resolves to is loopback, private, link-local (169.254.169.254 is a cloud's
  metadata service), shared, multicast, reserved or unspecified, an IPv4 address inside IPv6
  included.
The connection then goes to the address that was checked, not to a second lookup, so a host that
answers a public address first and an internal one next (DNS rebinding) gains nothing. TLS still
checks the certificate against the URL's host name.

`TANDEM_WEBHOOK_ALLOW_HOSTS` (comma-separated host names, addresses or networks such as
`127.0.0.1` or `10.20.0.0/16`) permits targets that would be refused, and plain http to them: for
tests and for a chat server on a company's own network, never a default.

Refusal reasons name the rule, never the URL or the address, since they reach logs and
`notification.failed`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(Exception):
    """This URL is never sent to; the reason says which rule, without the URL."""


class TargetUnresolved(Exception):
    """The host name did not resolve now; it may later."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        hosts, networks = set(), []
        for entry in (text or "").replace(" ", ",").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def permits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def permits(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address to connect to."""

    url: httpx.URL
    address: str

    def request_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (the Host header and TLS keep the name)."""
        return self.url.copy_with(host=self.address)

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def server_name(self) -> str:
        return self.url.host


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


async def check_target(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> Target:
    """The target to send to, or `TargetRefused` / `TargetUnresolved` (module docstring)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise TargetRefused("the webhook address is not a valid URL") from exc
    host = parsed.host
    if parsed.scheme not in ("https", "http") or not host:
        raise TargetRefused("the webhook address is not an https URL")
    host_allowed = allow.permits_host(host)
    literal = _literal(host)
    if parsed.scheme != "https" and not (host_allowed or (literal is not None and allow.permits(literal))):
        raise TargetRefused("the webhook address is not an https URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise TargetUnresolved("the webhook's host name could not be resolved") from exc
        if not addresses:
            raise TargetUnresolved("the webhook's host name could not be resolved")
    if not host_allowed:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # a scope id (fe80::1%eth0) is not part of it
            refusal = _refusal(address)
            if refusal is not None and not allow.permits(address):
                raise TargetRefused(f"the webhook address is refused: it leads to {refusal}")
    return Target(parsed, addresses[0])


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _refusal(address: Address) -> str | None:
    """What kind of address this is, when it is not one on the public internet."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_reserved:
        return "an address that is not on the public internet"
    return None
