// The address group a worker reaches the tasker from: keys of one group never
// verify a unit among themselves, so the grouping must be the same for every
// spelling of one network and different across networks.

import { describe, expect, it } from 'vitest';
import { addressGroup } from '../../tasker/address-group.ts';

describe('address groups', () => {
  it('groups IPv4 peers by /16', () => {
    expect(addressGroup('203.0.113.7:6881')).toBe('203.0/16');
    expect(addressGroup('203.0.200.1:1')).toBe('203.0/16');
    expect(addressGroup('203.1.113.7:6881')).not.toBe(addressGroup('203.0.113.7:6881'));
    expect(addressGroup('127.0.0.1:0')).toBe('127.0/16');
  });

  it('groups IPv6 peers by /32, bracketed or as Node prints them', () => {
    expect(addressGroup('[2001:db8:1:2::7]:443')).toBe('2001:db8::/32');
    expect(addressGroup('[2001:db8:ffff::1]:80')).toBe('2001:db8::/32');
    // `address:port` without brackets, as a socket's remoteAddress and remotePort make it
    expect(addressGroup('2001:db8:1:2::7:443')).toBe('2001:db8::/32');
    // leading zeros and case do not make another group
    expect(addressGroup('[2001:0DB8::1]:80')).toBe('2001:db8::/32');
    expect(addressGroup('[2001:db9::1]:80')).not.toBe(addressGroup('[2001:db8::1]:80'));
    // a /32 split by `::` early still reads its first two fields
    expect(addressGroup('[2001::1]:80')).toBe('2001:0::/32');
    expect(addressGroup('[::1]:6881')).toBe('0:0::/32');
    expect(addressGroup('::1:6881')).toBe('0:0::/32');
  });

  it('groups IPv4-mapped IPv6 peers with their IPv4 /16', () => {
    expect(addressGroup('[::ffff:203.0.113.7]:6881')).toBe('203.0/16');
    expect(addressGroup('::ffff:203.0.113.7:6881')).toBe('203.0/16');
    expect(addressGroup('[::FFFF:10.1.2.3]:1')).toBe(addressGroup('10.1.99.4:2'));
  });

  it('calls anything else unknown', () => {
    expect(addressGroup('unknown')).toBe('unknown');
    expect(addressGroup('')).toBe('unknown');
    expect(addressGroup('localhost:80')).toBe('unknown');
    expect(addressGroup('203.0.113.7')).toBe('unknown'); // no port
    expect(addressGroup('abc.onion:80')).toBe('unknown');
  });
});
