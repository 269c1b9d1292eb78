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

describe('control characters and normalised values', () => {
  const injections = [
    'http://proxy.internal:3128/\nNODE_OPTIONS=--require /tmp/evil.js',
    'http://proxy.internal:3128\r\nNODE_OPTIONS=x',
    'http://pro\txy.internal:3128',
    'http://proxy.internal:3128\u0000',
    'http://proxy.internal:3128\u2028NODE_OPTIONS=x',
    'http://proxy.internal:3128\u0085x',
    'http://proxy.internal:3128\u007f',
  ];
  it.each(injections)('refuses %j in every key, before URL() can drop it', (v) => {
    for (const key of SETTING_KEYS) {
      // (a gateway alone also draws "no static address"; the first problem is the control character)
      const { problems } = checkSettings({ [key]: v });
      // SSH keys may span lines (then the key check refuses this); every other key refuses it outright
      // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
      if (key === 'ssh_key' && !/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/.test(v)) {
        expect(problems[0]?.message).toContain('not an OpenSSH public key');
        continue;
      }
      expect(problems[0], key).toEqual({
        key,
        message: expect.stringContaining('contains a control character'),
      });
      // the refusal does not echo the value (it would reach the console and the admin page)
      expect(problems[0]!.message).not.toContain('NODE_OPTIONS');
    }
  });

  it('lets SSH keys span lines, but nothing else', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x';
    expect(checkSettings({ ssh_key: `${key}\r\n${key}` }).problems).toEqual([]);
    expect(checkSettings({ ssh_key: `${key}\u0000` }).problems[0]?.message).toContain('control character');
  });

  it.each([
    ['http://proxy.internal:3128', 'http://proxy.internal:3128'],
    ['http://proxy.internal:3128/', 'http://proxy.internal:3128'],
    ['HTTP://Proxy.Internal:80/', 'http://proxy.internal'],
    ['http://user:p@ss w$rd@proxy:3128', 'http://user:p%40ss%20w%24rd@proxy:3128'],
    ["http://o'neil:x@proxy:3128", 'http://o%27neil:x@proxy:3128'],
    ['http://[2001:db8::1]:3128', 'http://[2001:db8::1]:3128'],
    ['https://192.0.2.8:8443', 'https://192.0.2.8:8443'],
  ])('writes the proxy %j as %j', (given, written) => {
    const { values, problems } = checkSettings({ http_proxy: given });
    expect(problems).toEqual([]);
    expect(values.http_proxy).toBe(written);
  });

  it.each([
    ['http://proxy:3128/path', 'no path'],
    ['http://proxy:3128/?x=1', 'no path'],
    ['http://proxy:3128#frag', 'no path'],
    ['http://under_score:3128', 'no valid host name'],
    ['http://a!b:3128', 'no valid host name'],
    ['socks5://proxy:1080', 'must start with'],
  ])('refuses the proxy %j', (given, problem) => {
    expect(checkSettings({ http_proxy: given }).problems[0]?.message).toContain(problem);
  });

  it('writes the channel URL as URL() parsed it', () => {
    expect(checkSettings({ channel_url: 'HTTPS://Updates.Example.com/a b/' }).values.channel_url).toBe(
      'https://updates.example.com/a%20b/',
    );
    expect(checkSettings({ channel_url: 'https://bad_host/x' }).problems[0]?.message).toContain(
      'no valid host name',
    );
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
