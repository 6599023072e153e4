// Runs scripts/install-service.sh and uninstall-service.sh with --destdir against a small fake
// built tree (no root, no user, no systemctl): checks what lands where, idempotence, that the
// config survives upgrades, and that uninstall keeps data unless --purge.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(path.join(tmpdir(), 'jetrecv-install-'));
const src = path.join(tmp, 'src');
const dest = path.join(tmp, 'dest');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** A built checkout in miniature: the real scripts and systemd files, fake build outputs. */
beforeAll(() => {
  cpSync(path.join(repoRoot, 'scripts'), path.join(src, 'scripts'), { recursive: true });
  cpSync(path.join(repoRoot, 'systemd'), path.join(src, 'systemd'), { recursive: true });
  write(path.join(src, 'package.json'), JSON.stringify({ name: 'jetrecv', version: '9.9.9', dependencies: {} }));
  write(
    path.join(src, 'package-lock.json'),
    JSON.stringify({
      name: 'jetrecv',
      version: '9.9.9',
      lockfileVersion: 3,
      requires: true,
      packages: { '': { name: 'jetrecv', version: '9.9.9' } },
    }),
  );
  write(path.join(src, 'bin', 'jetrecv.js'), '#!/usr/bin/env node\n');
  write(path.join(src, 'dist', 'cli', 'main.js'), 'export {};\n');
  // Stand-in for the compiled loader: refuses a config that contains BROKEN.
  write(
    path.join(src, 'dist', 'config', 'config-file.js'),
    "import { readFileSync } from 'node:fs';\n" +
      "export function loadConfigFile(p) { if (readFileSync(p, 'utf8').includes('BROKEN')) throw new Error(`JETRECV_ERR_CONFIG ${p}: unknown key 'BROKEN'`); return {}; }\n",
  );
  write(path.join(src, 'build', 'Release', 'jetrecv_native.node'), 'not really an addon');
  write(path.join(src, 'native', 'src', 'core', 'counters.def'), 'X(rx_datagrams, "datagrams")\n');
  // A package the lockfile does not list: npm prune must remove it from the installed copy.
  write(path.join(src, 'node_modules', 'dev-only-tool', 'package.json'), JSON.stringify({ name: 'dev-only-tool', version: '1.0.0' }));
});

function run(script: 'install-service.sh' | 'uninstall-service.sh', args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync('bash', [path.join(src, 'scripts', script), '--destdir', dest, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const at = (p: string): string => path.join(dest, p);
const mode = (p: string): string => (statSync(at(p)).mode & 0o777).toString(8);
/** The installer keeps the unit's /usr/bin/node when it is the node on PATH. */
const nodeIsDefault = (() => {
  const onPath = spawnSync('bash', ['-c', 'readlink -f "$(command -v node)"'], { encoding: 'utf8' }).stdout.trim();
  return existsSync('/usr/bin/node') && realpathSync('/usr/bin/node') === onPath;
})();

describe('install-service.sh / uninstall-service.sh', () => {
  it('are valid bash and print usage', () => {
    for (const script of ['install-service.sh', 'uninstall-service.sh']) {
      const file = path.join(repoRoot, 'scripts', script);
      expect(spawnSync('bash', ['-n', file]).status, `${script} has a syntax error`).toBe(0);
      expect(statSync(file).mode & 0o111, `${script} must be executable`).not.toBe(0);
      const help = spawnSync('bash', [file, '--help'], { encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toContain('Usage: sudo scripts/');
      const bad = spawnSync('bash', [file, '--frobnicate'], { encoding: 'utf8' });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain("unknown option '--frobnicate'");
    }
  });

  it('installs the package, unit, sysctl drop-in, config and directories', () => {
    const r = run('install-service.sh', []);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain('staged under');
    expect(readFileSync(at('opt/jetrecv/package.json'), 'utf8')).toContain('9.9.9');
    expect(statSync(at('opt/jetrecv/bin/jetrecv.js')).mode & 0o111).not.toBe(0);
    expect(existsSync(at('opt/jetrecv/build/Release/jetrecv_native.node'))).toBe(true);
    expect(existsSync(at('opt/jetrecv/dist/cli/main.js'))).toBe(true);
    expect(existsSync(at('opt/jetrecv/native/src/core/counters.def'))).toBe(true);
    expect(existsSync(at('opt/jetrecv/node_modules/dev-only-tool')), 'node_modules must be pruned').toBe(false);
    expect(lstatSync(at('usr/local/bin/jetrecv')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(at('usr/local/bin/jetrecv'))).toBe('/opt/jetrecv/bin/jetrecv.js');
    expect(readFileSync(at('etc/systemd/system/jetrecv.service'), 'utf8')).toBe(
      readFileSync(path.join(repoRoot, 'systemd', 'jetrecv.service'), 'utf8'),
    );
    // The unit's defaults fit (unless node lives elsewhere on this machine).
    expect(existsSync(at('etc/systemd/system/jetrecv.service.d/10-install.conf'))).toBe(!nodeIsDefault);
    expect(readFileSync(at('etc/sysctl.d/99-jetrecv.conf'), 'utf8')).toContain('net.core.rmem_max = 134217728');
    const config = JSON.parse(readFileSync(at('etc/jetrecv/jetrecv.conf'), 'utf8')) as Record<string, unknown>;
    expect(config['sandbox-dir']).toBe('/srv/jetrecv');
    expect(mode('etc/jetrecv/jetrecv.conf')).toBe('640');
    expect(mode('etc/jetrecv')).toBe('750');
    expect(mode('var/lib/jetrecv')).toBe('700');
    expect(mode('srv/jetrecv')).toBe('750');
  });

  it('upgrades in place, keeps the config, and writes a drop-in for another prefix', () => {
    const configPath = at('etc/jetrecv/jetrecv.conf');
    const edited = readFileSync(configPath, 'utf8').replace('"log-level": "info"', '"log-level": "debug"');
    writeFileSync(configPath, edited);
    write(at('srv/jetrecv/received.bin'), 'data');

    const r = run('install-service.sh', ['--prefix', '/opt/jr2']);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain('kept the existing /etc/jetrecv/jetrecv.conf');
    expect(readFileSync(configPath, 'utf8')).toBe(edited);
    expect(readFileSync(at('srv/jetrecv/received.bin'), 'utf8')).toBe('data');
    expect(readlinkSync(at('usr/local/bin/jetrecv'))).toBe('/opt/jr2/bin/jetrecv.js');
    const dropIn = readFileSync(at('etc/systemd/system/jetrecv.service.d/10-install.conf'), 'utf8');
    expect(dropIn).toMatch(/^ExecStart=$/m);
    expect(dropIn).toMatch(
      /^ExecStart=\S+node \/opt\/jr2\/bin\/jetrecv\.js serve --config \/etc\/jetrecv\/jetrecv\.conf --persistent-state-dir \/var\/lib\/jetrecv$/m,
    );
    expect(dropIn).toMatch(/^ReadWritePaths=$\nReadWritePaths=\/srv\/jetrecv$/m);
    // systemd-analyze verify reads the drop-in next to the unit: both must be clean.
    const verify = spawnSync('systemd-analyze', ['verify', at('etc/systemd/system/jetrecv.service')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (verify.error === undefined) {
      expect({ status: verify.status, stderr: verify.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    } else {
      console.log('skipped verifying the drop-in: systemd-analyze is not installed');
    }
    expect(readdirSync(at('opt')).sort(), 'no staging leftovers').toEqual(['jetrecv', 'jr2']);
  });

  it('refuses a --sandbox-dir that contradicts the existing config', () => {
    const r = run('install-service.sh', ['--prefix', '/opt/jr2', '--sandbox-dir', '/data/elsewhere']);
    expect(r.status).not.toBe(0);
    expect(r.err).toContain('"sandbox-dir": "/srv/jetrecv" but --sandbox-dir is /data/elsewhere');
  });

  it('warns when the kept config does not validate', () => {
    const configPath = at('etc/jetrecv/jetrecv.conf');
    const good = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, good.replace('{', '{\n  "BROKEN": 1,'));
    const r = run('install-service.sh', ['--prefix', '/opt/jr2']);
    writeFileSync(configPath, good);
    expect(r.status, r.err).toBe(0);
    expect(r.err).toContain('does not validate');
    expect(r.err).toContain("unknown key 'BROKEN'");
  });

  it('uninstall keeps config, state and received files unless --purge', () => {
    const r = run('uninstall-service.sh', []);
    expect(r.status, r.err).toBe(0);
    expect(existsSync(at('opt/jr2')), 'prefix found through the symlink').toBe(false);
    expect(existsSync(at('usr/local/bin/jetrecv'))).toBe(false);
    expect(existsSync(at('etc/systemd/system/jetrecv.service'))).toBe(false);
    expect(existsSync(at('etc/systemd/system/jetrecv.service.d'))).toBe(false);
    expect(existsSync(at('etc/sysctl.d/99-jetrecv.conf'))).toBe(false);
    expect(existsSync(at('etc/jetrecv/jetrecv.conf'))).toBe(true);
    expect(existsSync(at('var/lib/jetrecv'))).toBe(true);
    expect(readFileSync(at('srv/jetrecv/received.bin'), 'utf8')).toBe('data');

    const purge = run('uninstall-service.sh', ['--prefix', '/opt/jetrecv', '--purge', '--yes']);
    expect(purge.status, purge.err).toBe(0);
    for (const p of ['opt/jetrecv', 'etc/jetrecv', 'var/lib/jetrecv', 'srv/jetrecv']) expect(existsSync(at(p)), p).toBe(false);
  });
});
