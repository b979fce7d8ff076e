// The SSRF guard on its own: which resolved addresses a delivery may reach, and what the allow-list opens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockedAddressError, createAddressGuard } from '../../src/delivery/address-guard.ts';

describe('address guard', () => {
  const guard = createAddressGuard([]);
  const blocked = (address: string, g = guard) => assert.throws(() => g.check(address, 'hooks.example.com'), BlockedAddressError, address);

  it('lets public IPv4 and global unicast IPv6 addresses through', () => {
    for (const address of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888']) guard.check(address, 'hooks.example.com');
  });

  it('refuses loopback, private, link-local and other non-public addresses, in every IPv6 spelling of them', () => {
    for (const address of [
      '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '224.0.0.1',
      '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:10.0.0.1', // IPv4-mapped
      '::127.0.0.1', '::10.0.0.1', // IPv4-compatible (deprecated)
      'fec0::1', // site-local (deprecated)
      '64:ff9b::a00:1', '2002:7f00:1::1', '2001::1', '2001:db8::1', // NAT64, 6to4, Teredo, documentation
      '4000::1', 'e000::1', // unassigned, outside the global unicast space 2000::/3 (ipaddr.js calls them unicast)
    ]) blocked(address);
  });

  it('opens what the allow-list names: an address, a network, a host name', () => {
    const open = createAddressGuard(['127.0.0.1', '10.0.0.0/8', '::127.0.0.1', 'Internal.Example']);
    for (const address of ['127.0.0.1', '10.200.0.7', '::ffff:10.0.0.1', '::127.0.0.1']) open.check(address, 'hooks.example.com');
    blocked('127.0.0.2', open);
    blocked('192.168.0.1', open);
    assert.equal(open.hostAllowed('internal.example'), true);
    assert.equal(open.hostAllowed('[internal.example]'), true);
    assert.equal(open.hostAllowed('other.example'), false);
  });
});
