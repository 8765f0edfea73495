"""This machine's network addresses (what mDNS is sent and heard on); both ends need them."""

from __future__ import annotations

import ipaddress

import ifaddr


def ipv4_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, sorted (what mDNS is sent and heard on)."""
    found = {ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)}
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback)
