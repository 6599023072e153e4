// The Python client (clients/python) against a real `jetrecv serve` with a state dir, users and
// one finished transfer: runs its unittest suite and its example with python3 (>= 3.9), and
// skips with a printed reason when there is none. Also installs the package offline with pip
// when the interpreter can build it (setuptools, and wheel below setuptools 70.1).
// $JETRECV_TEST_PYTHON picks another interpreter (e.g. python3.9, the oldest supported).
import { spawn, spawnSync } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools } from '../tools/host-tools.js';
import { makeSelfSignedCert } from '../tools/tls-cert.js';
import { repoRoot, runCli, spawnServe, tempDir, writeRandomFile, type ServeProcess } from './harness.js';

const PYTHON = process.env['JETRECV_TEST_PYTHON'] ?? 'python3';
const PASSWORD = 'py-client-password-1';
const SENT_DEST = 'py-sent';
const clientDir = path.join(repoRoot, 'clients', 'python');

/** null when PYTHON runs and is at least 3.9, else why the tests are skipped. */
function pythonSkipReason(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return PYTHON === 'python3' && missingTools(['python3']) !== null
      ? (missingTools(['python3']) as string)
      : `'${PYTHON}' does not run: ${probe.error?.message ?? probe.stderr.trim()}`;
  }
  const [major, minor] = probe.stdout.trim().split('.').map(Number) as [number, number];
  return major > 3 || (major === 3 && minor >= 9) ? null : `needs Python >= 3.9, '${PYTHON}' is ${probe.stdout.trim()}`;
}

const skipReason = pythonSkipReason();
if (skipReason !== null) console.log(`python-client tests skipped: ${skipReason}`);
const noOpenssl = missingTools(['openssl']);
if (skipReason === null && noOpenssl !== null) console.log(`python-client HTTPS tests skipped: making the certificate ${noOpenssl}`);

interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs PYTHON ARGS in `cwd` (default clients/python) with the client importable and no bytecode written. */
function runPython(args: string[], env: Record<string, string>, cwd = clientDir): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, {
      cwd,
      env: { ...process.env, PYTHONPATH: clientDir, PYTHONDONTWRITEBYTECODE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Why PYTHON cannot build the package offline (`pip install --no-build-isolation`), or null:
 * it needs pip and setuptools >= 61, plus wheel below setuptools 70.1.
 */
const PIP_PROBE_PY = String.raw`
import importlib.metadata, importlib.util, sys
missing = [m for m in ("pip", "setuptools") if importlib.util.find_spec(m) is None]
if missing:
    print("has no " + " and no ".join(missing)); sys.exit(0)
text = importlib.metadata.version("setuptools")
v = tuple(int(x) for x in text.split(".")[:2])
if v < (61, 0):
    print("has setuptools %s, needs >= 61" % text)
elif v < (70, 1) and importlib.util.find_spec("wheel") is None:
    print("has setuptools %s without wheel (needed below setuptools 70.1)" % text)
`;

function pipSkipReason(): string | null {
  if (skipReason !== null) return skipReason;
  const probe = spawnSync(PYTHON, ['-c', PIP_PROBE_PY], { encoding: 'utf8' });
  const why = probe.status === 0 ? probe.stdout.trim() : `probe failed: ${probe.stderr.trim()}`;
  return why === '' ? null : `'${PYTHON}' ${why}`;
}

const noOfflineBuild = pipSkipReason();
if (skipReason === null && noOfflineBuild !== null) console.log(`python-client pip install test skipped: ${noOfflineBuild}`);

describe.skipIf(noOfflineBuild !== null)('Python client package', () => {
  it('installs offline with pip --no-build-isolation --no-deps and imports from the install', async () => {
    const dir = await tempDir('py-pip');
    try {
      // Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
      const source = path.join(dir, 'src');
      await cp(clientDir, source, { recursive: true, filter: (p) => !/(__pycache__|\.egg-info|[/]build)$/.test(p) });
      const target = path.join(dir, 'site');
      const install = await runPython(
        ['-m', 'pip', 'install', '--no-build-isolation', '--no-deps', '--no-index', '--target', target, source],
        {},
      );
      expect(install.code, `${install.stderr}\n${install.stdout}`).toBe(0);
      const check = await runPython(
        [
          '-c',
          'import jetrecv, os; print(jetrecv.__version__, jetrecv.__file__, os.path.exists(os.path.join(os.path.dirname(jetrecv.__file__), "py.typed")))',
        ],
        { PYTHONPATH: target },
        dir,
      );
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout.trim()).toBe(`0.1.0 ${path.join(target, 'jetrecv', '__init__.py')} True`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(skipReason !== null)('Python client against a real daemon', () => {
  let root: string;
  let serve: ServeProcess;
  let tlsServe: ServeProcess | undefined;
  let senderPub: string;
  const env: Record<string, string> = {};

  /** A daemon with its own state dir holding the users root (superuser) and alice. */
  async function startDaemon(name: string, extra: string[] = []): Promise<ServeProcess> {
    const stateDir = path.join(root, name, 'state');
    for (const user of ['root', 'alice']) {
      const r = await runCli(['user', 'add', user, '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
      expect(r.code, r.stderr).toBe(0);
    }
    return spawnServe([
      '--persistent-state-dir',
      stateDir,
      '--sandbox-dir',
      path.join(root, name, 'sandbox'),
      '--recv-host',
      '127.0.0.1',
      '--recv-port',
      '0',
      '--api-port',
      '0',
      '--superuser',
      'root',
      ...extra,
    ]);
  }

  beforeAll(async () => {
    root = await tempDir('py-client');
    serve = await startDaemon('plain');

    // One finished transfer, so getTransfersAsync and getSourcesAsync have a real entry.
    const keyFile = path.join(root, 'sender.key');
    const kg = await runCli(['keygen', '--out', keyFile]);
    expect(kg.code, kg.stderr).toBe(0);
    senderPub = /public key: (\S+)/.exec(kg.stdout)![1]!;
    const file = path.join(root, 'payload.bin');
    await writeRandomFile(file, 256 << 10);
    const sent = await runCli([
      'send',
      '--to',
      `127.0.0.1:${serve.recvPort}`,
      '--server-key',
      serve.publicKey,
      '--key',
      keyFile,
      '--dest',
      SENT_DEST,
      file,
    ]);
    expect(sent.code, sent.stderr).toBe(0);

    Object.assign(env, {
      JETRECV_TEST_API_PORT: String(serve.apiPort),
      JETRECV_TEST_SUPERUSER: 'root',
      JETRECV_TEST_USER: 'alice',
      JETRECV_TEST_PASSWORD: PASSWORD,
      JETRECV_TEST_SENT_DEST: `/${SENT_DEST}`,
    });

    if (noOpenssl === null) {
      const { cert, key } = makeSelfSignedCert(root);
      tlsServe = await startDaemon('tls', ['--api-tls-cert', cert, '--api-tls-key', key]);
      Object.assign(env, { JETRECV_TEST_TLS_PORT: String(tlsServe.apiPort), JETRECV_TEST_TLS_CA: cert });
    }
  }, 120_000);

  afterAll(async () => {
    await tlsServe?.stop();
    await serve?.stop();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('passes the unittest suite in clients/python/tests', async () => {
    const run = await runPython(['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], env);
    const report = `${run.stderr}\n${run.stdout}`;
    expect(run.code, report).toBe(0);
    const ran = /^Ran (\d+) tests?/m.exec(run.stderr);
    expect(Number(ran?.[1]), report).toBeGreaterThanOrEqual(21);
    // Nothing skipped but, without openssl, the HTTPS tests.
    const skipped = [...run.stderr.matchAll(/\.\.\. skipped/g)].length;
    expect(skipped, report).toBe(noOpenssl === null ? 0 : 3);
  }, 120_000);

  it('runs the example: authorizes a key, turns allow-only on, lists the transfers', async () => {
    const run = await runPython(
      [
        'examples/authorize_and_watch.py',
        '--host',
        '127.0.0.1',
        '--port',
        String(serve.apiPort),
        '--user',
        'root',
        '--key',
        senderPub,
        '--polls',
        '1',
      ],
      { JETRECV_API_PASSWORD: PASSWORD },
    );
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(run.stdout).toContain(`authorized ${senderPub}`);
    expect(run.stdout).toContain('allow-only: on');
    expect(run.stdout).toMatch(new RegExp(`^[0-9a-f]{32} +complete +100\\.0% .*/${SENT_DEST}$`, 'm'));
  }, 60_000);

  it('the example exits 1 with the API error on a wrong password', async () => {
    const run = await runPython(
      ['examples/authorize_and_watch.py', '--port', String(serve.apiPort), '--user', 'root', '--key', senderPub, '--polls', '1'],
      { JETRECV_API_PASSWORD: 'not-the-password' },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('JETRECV_ERR_LOGIN_FAILED');
  }, 60_000);
});
