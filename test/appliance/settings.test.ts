import { describe, expect, it } from 'vitest';
import {
  checkSettings,
  parseOvfEnvironment,
  parseUserData,
  SETTING_KEYS,
  SETTINGS,
} from '../../appliance/index.ts';

describe('the settings catalogue (appliance/firstboot/settings.ts)', () => {
  it('lists the agreed keys, each with label, description and type; only the password is masked', () => {
    expect(SETTINGS.map((s) => s.key)).toEqual([...SETTING_KEYS]);
    expect([...SETTING_KEYS]).toEqual([
      'hostname',
      'ip',
      'gateway',
      'dns',
      'ntp',
      'admin_password',
      'ssh_key',
      'channel_url',
      'http_proxy',
    ]);
    for (const s of SETTINGS) {
      expect(s.label.length).toBeGreaterThan(2);
      expect(s.description.length).toBeGreaterThan(10);
      expect(s.type).toBe('string');
    }
    expect(SETTINGS.filter((s) => s.password).map((s) => s.key)).toEqual(['admin_password']);
  });

  it.each([
    ['hostname', 'portal-01.example.com', null],
    ['hostname', '-bad', 'is not a hostname'],
    ['hostname', 'under_score', 'is not a hostname'],
    ['ip', '10.0.0.5/24', null],
    ['ip', '2001:db8::5/64', null],
    ['ip', '10.0.0.5', 'prefix length'],
    ['ip', '10.0.0.256/24', 'is not an IP address'],
    ['ip', '10.0.0.5/33', 'out of range'],
    ['dns', '1.1.1.1, 9.9.9.9', null],
    ['dns', '1.1.1.1, dns.example', 'is not an IP address'],
    ['ntp', 'pool.ntp.org 192.0.2.1', null],
    ['admin_password', 'short1!', 'at least 12'],
    ['admin_password', 'alllowercaseletters', 'two kinds'],
    ['admin_password', 'Password12345', 'well-known'],
    ['admin_password', 'aaaaaaaaaaa1', 'repeats'],
    ['admin_password', 'Fine-Password-9', null],
    ['admin_password', 'my-Admin-pass-9', 'user name'],
    ['ssh_key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x', null],
    [
      'ssh_key',
      'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x',
      'does not match',
    ],
    ['ssh_key', 'not a key', 'not an OpenSSH public key'],
    ['channel_url', 'https://updates.example.com/x/', null],
    ['channel_url', 'ftp://x', 'must start with'],
    ['http_proxy', 'http://proxy:3128', null],
    ['http_proxy', 'proxy:3128', 'must start with'],
  ])('%s = %j', (key, value, problem) => {
    const { values, problems } = checkSettings({ [key]: value });
    expect(values[key as 'ip']).toBe(value.trim());
    if (problem === null) expect(problems).toEqual([]);
    else expect(problems[0]?.message).toContain(problem);
  });

  it('never repeats a password in a problem', () => {
    const { problems } = checkSettings({ admin_password: 'Password12345' });
    expect(JSON.stringify(problems)).not.toContain('Password12345');
  });

  it('checks gateways against the address', () => {
    expect(checkSettings({ gateway: '10.0.0.1' }).problems[0]?.message).toContain('without a static address');
    expect(checkSettings({ ip: '10.0.0.5/24', gateway: '2001:db8::1' }).problems[0]?.message).toContain(
      'same IP family',
    );
    expect(checkSettings({ ip: '10.0.0.5/24', gateway: '10.0.0.1' }).problems).toEqual([]);
  });

  it('ignores unknown keys and empty values, refuses non-scalars', () => {
    const r = checkSettings({ foo: 'x', hostname: '', ntp: ['a'] });
    expect(r.values).toEqual({});
    expect(r.problems).toEqual([{ key: 'ntp', message: 'NTP servers must be text' }]);
  });
});

describe('parsers', () => {
  it('parses an OVF environment with single quotes, numeric entities and class prefixes', () => {
    const xml = `<?xml version="1.0"?><oe:Environment xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">
      <oe:PropertySection><oe:Property oe:key='vm.hostname' oe:value='a&#45;b'/><oe:Property oe:key="ntp" oe:value="x&#x2E;org"></oe:Property></oe:PropertySection></oe:Environment>`;
    expect(parseOvfEnvironment(xml)).toEqual({ hostname: 'a-b', ntp: 'x.org' });
  });

  it('refuses a document that is not an OVF environment', () => {
    expect(() => parseOvfEnvironment('<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>')).toThrow(
      /OVF environment namespace/,
    );
  });

  it('reads user data: none, a shell script, YAML, bad YAML', () => {
    expect(parseUserData(null).settings).toEqual({});
    expect(parseUserData('#!/bin/sh\necho hi').settings).toEqual({});
    expect(parseUserData('drydock:\n  hostname: x\n').settings).toEqual({ hostname: 'x' });
    expect(parseUserData('drydock: [1]').problem).toContain('must be a mapping');
    expect(parseUserData('drydock: {').problem).toContain('not YAML');
  });
});
