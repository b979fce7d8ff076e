// Where a gateway listening on `host` is reached from this machine, and how an address is written in a URL.
import { isIP } from 'node:net';

/**
 * The address to connect to: this machine's loopback for the every-interface addresses (0.0.0.0, ::), which are
 * no address to open; else the host itself.
 */
export function reachableHost(host: string): string {
  if (isIP(host) === 4 && host === '0.0.0.0') return '127.0.0.1';
  if (isIP(host) === 6 && /^[0:]+$/.test(host)) return '::1';
  return host;
}

/** Whether the host means every interface of this machine. */
export function everyInterface(host: string): boolean {
  return reachableHost(host) !== host;
}

/** A host as it stands in a URL: an IPv6 address in brackets (`[::1]`). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** The http:// base URL of a gateway listening on host and port, as it is reached from this machine. */
export function httpBase(host: string, port: number | string): string {
  return `http://${urlHost(reachableHost(host))}:${port}`;
}
