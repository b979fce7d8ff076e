// SSRF guard: deliveries may reach only public addresses, unless the configured allow-list names the
// address, its network (CIDR) or the host name.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  readonly code = 'BG_BLOCKED_ADDRESS';
}

export interface AddressGuard {
  /** True when the host name itself is allow-listed (its addresses are then not checked). */
  hostAllowed(hostname: string): boolean;
  /** Throws BlockedAddressError unless the IP address is public or allow-listed. */
  check(address: string, hostname: string): void;
}

/**
 * IPv6 is public only in the global unicast space, 2000::/3: ipaddr.js calls unicast every address it has no name
 * for, which would leave the unassigned rest of the space (4000::/2, …) looking public.
 */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

export function createAddressGuard(allow: readonly string[]): AddressGuard {
  const hosts = new Set<string>();
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const entry of allow) {
    const text = entry.trim().toLowerCase();
    if (text.includes('/')) ranges.push(ipaddr.parseCIDR(text));
    else if (isIP(text)) {
      const ip = ipaddr.parse(text);
      ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else hosts.add(text);
  }
  return {
    hostAllowed: (hostname) => hosts.has(stripBrackets(hostname).toLowerCase()),
    check(address, hostname) {
      let ip = ipaddr.parse(address);
      if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
      if (ip.range() === 'unicast' && (ip.kind() === 'ipv4' || ip.match(GLOBAL_UNICAST_V6))) return;
      for (const [network, bits] of ranges) {
        if (network.kind() === ip.kind() && ip.match([network, bits] as never)) return;
      }
      throw new BlockedAddressError(`${hostname} resolves to ${address}, which is not a public address (allow it with delivery.allow_private)`);
    },
  };
}

export function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}
