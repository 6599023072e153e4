import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { serveSpec } from '../../src/config/serve-spec.js';
import { parseArgs } from '../../src/config/args.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const unitPath = path.join(repoRoot, 'systemd', 'jetrecv.service');
const unitText = readFileSync(unitPath, 'utf8');
const tmp = mkdtempSync(path.join(tmpdir(), 'jetrecv-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Directives by section, in order; comments, blank lines and continuation-free syntax only. */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | null = null;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([A-Za-z]+)\]$/.exec(line);
    if (section) {
      current = [];
      sections.set(section[1] as string, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv === null || current === null) throw new Error(`jetrecv.service line ${i + 1} is not a directive: ${raw}`);
    expect(line.endsWith('\\'), `line ${i + 1}: no continuation lines`).toBe(false);
    current.push([kv[1] as string, kv[2] as string]);
  }
  return sections;
}

const unit = parseUnit(unitText);
const service = unit.get('Service') ?? [];
const values = (key: string): string[] => service.filter(([k]) => k === key).map(([, v]) => v);
const value = (key: string): string | undefined => values(key).at(-1);

describe('systemd/jetrecv.service', () => {
  it('has the lifecycle, identity and directory settings', () => {
    expect(Object.fromEntries(service.filter(([k]) => k !== 'ExecStart'))).toMatchObject({
      Type: 'notify',
      NotifyAccess: 'main',
      ExecReload: '/bin/kill -HUP $MAINPID',
      User: 'jetrecv',
      Group: 'jetrecv',
      StateDirectory: 'jetrecv',
      RuntimeDirectory: 'jetrecv',
      RuntimeDirectoryMode: '0755',
      ConfigurationDirectory: 'jetrecv',
      ReadWritePaths: '/srv/jetrecv',
      WatchdogSec: '30',
      Restart: 'on-failure',
      RestartSec: '2',
      LimitNOFILE: '1048576',
      TimeoutStopSec: '30',
      UMask: '0027',
    });
    expect(unit.get('Install')).toEqual([['WantedBy', 'multi-user.target']]);
  });

  it('has every hardening option and never MemoryDenyWriteExecute', () => {
    const hardening: Record<string, string> = {
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      NoNewPrivileges: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      ProtectClock: 'yes',
      RestrictNamespaces: 'yes',
      RestrictRealtime: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6 AF_NETLINK',
      CapabilityBoundingSet: '',
    };
    for (const [key, expected] of Object.entries(hardening)) {
      expect(values(key), `${key}= must be set exactly once`).toHaveLength(1);
      expect({ key, value: value(key) }).toEqual({ key, value: expected });
    }
    const filter = (value('SystemCallFilter') ?? '').split(/\s+/);
    expect(filter).toContain('@system-service');
    expect(filter, 'Node 20 calls pkey_alloc() at start: keep @pkey').toContain('@pkey');
    expect(value('SystemCallErrorNumber')).toBe('EPERM');
    // V8's JIT needs W+X memory; Node dies at start under MemoryDenyWriteExecute=yes.
    for (const directives of unit.values()) {
      expect(directives.map(([k]) => k)).not.toContain('MemoryDenyWriteExecute');
    }
  });

  it('runs `jetrecv serve` with the config file and StateDirectory as the state dir', () => {
    const argv = (value('ExecStart') ?? '').split(/\s+/);
    const serveAt = argv.indexOf('serve');
    expect(argv[0]).toBe('/usr/bin/node');
    expect(argv[1]).toBe('/opt/jetrecv/bin/jetrecv.js');
    expect(serveAt).toBe(2);
    const serveArgs = argv.slice(serveAt + 1);
    expect(serveArgs).toEqual(['--config', '/etc/jetrecv/jetrecv.conf', '--persistent-state-dir', '/var/lib/jetrecv']);
    expect(`/var/lib/${value('StateDirectory')}`).toBe('/var/lib/jetrecv');
    expect(`/etc/${value('ConfigurationDirectory')}/jetrecv.conf`).toBe('/etc/jetrecv/jetrecv.conf');
  });

  it('passes only flags that `jetrecv serve` accepts (needs --config in serveSpec)', () => {
    const serveArgs = (value('ExecStart') ?? '').split(/\s+/).slice(3);
    expect(
      serveSpec.flags.map((f) => f.name),
      "serveSpec has no --config flag: add { name: 'config', type: 'path', valueName: 'FILE', help: ... } and load it with loadServeFlags()",
    ).toContain('config');
    expect(parseArgs(serveSpec, serveArgs).flags['persistent-state-dir']).toBe('/var/lib/jetrecv');
  });

  it('writes into the sandbox the default config names', () => {
    const example = JSON.parse(readFileSync(path.join(repoRoot, 'systemd', 'jetrecv.conf.example'), 'utf8')) as Record<string, unknown>;
    expect(value('ReadWritePaths')).toBe(example['sandbox-dir']);
  });

  it('passes `systemd-analyze verify` (when the tool exists)', (ctx) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      console.log('skipped: systemd-analyze is not installed (Debian: apt-get install systemd)');
      ctx.skip();
    }
    // verify checks that ExecStart's program exists; where node is not /usr/bin/node the
    // installer writes a drop-in with the real path, so check the unit the same way.
    let text = unitText;
    if (!existsSync('/usr/bin/node')) text = text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `);
    const copy = path.join(tmp, 'jetrecv.service');
    writeFileSync(copy, text);
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 30_000 });
    // Unknown or misspelt keys only warn (exit 0), so any output at all is a failure.
    expect({ status: result.status, stderr: result.stderr.trim(), stdout: result.stdout.trim() }).toEqual({
      status: 0,
      stderr: '',
      stdout: '',
    });
  });

  it('keeps a low `systemd-analyze security` exposure (when the tool exists)', (ctx) => {
    const copy = path.join(tmp, 'jetrecv-security.service');
    writeFileSync(copy, unitText);
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', copy], { encoding: 'utf8', timeout: 30_000 });
    if (result.error !== undefined || /unrecognized option|Unknown command/i.test(result.stderr)) {
      console.log(`skipped: systemd-analyze security --offline is not available (${result.error?.message ?? result.stderr.trim()})`);
      ctx.skip();
    }
    const score = Number(/Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(result.stdout)?.[1] ?? 'NaN');
    expect(score, result.stdout.split('\n').slice(-3).join('\n')).toBeLessThanOrEqual(2.5);
  });
});

describe('systemd/99-jetrecv.conf', () => {
  const text = readFileSync(path.join(repoRoot, 'systemd', '99-jetrecv.conf'), 'utf8');
  const settings = new Map<string, number>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z0-9_.]+)\s*=\s*(\d+)$/.exec(line);
    if (m === null) throw new Error(`99-jetrecv.conf line ${i + 1} is not 'key = integer': ${raw}`);
    settings.set(m[1] as string, Number(m[2]));
  }

  it('raises the socket buffer limits the data path needs', () => {
    expect(Object.fromEntries(settings)).toEqual({
      'net.core.rmem_max': 134217728,
      'net.core.wmem_max': 134217728,
      'net.core.rmem_default': 1048576,
      'net.core.netdev_max_backlog': 30000,
    });
  });

  it('lets the default --socket-buffer through without clamping', () => {
    const socketBuffer = serveSpec.flags.find((f) => f.name === 'socket-buffer')?.default as number;
    expect(settings.get('net.core.rmem_max')).toBeGreaterThanOrEqual(socketBuffer);
  });
});
