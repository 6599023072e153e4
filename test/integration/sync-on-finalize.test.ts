// Durable completion (issue 12, finding 13) with a real receiver and the real `jetrecv send`:
// by default every received file is synced (data, rename, directory) before it is reported
// done — the native counter files_synced_on_finalize counts one per file; the opt-out
// (--no-sync-on-finalize / "sync-on-finalize": false) reaches the addon and skips the syncs.
// The order of the steps per file is checked in ctest (native/test/finalize_test.cc).
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listTree, sendTo, startTestReceiver, tempDir, writeRandomFile, type TestReceiver } from './harness.js';
import { serveConfigFromFlags } from '../../src/cli/serve-command.js';
import { loadServeFlags } from '../../src/config/config-file.js';

let rx: TestReceiver | undefined;
afterEach(async () => {
  await rx?.close();
  rx = undefined;
});

async function sendThree(r: TestReceiver): Promise<string> {
  const src = path.join(await tempDir('sync-src'), 'set');
  await mkdir(src);
  for (let i = 0; i < 3; i++) await writeRandomFile(path.join(src, `f${i}.bin`), (i + 1) * 300_000);
  const res = await sendTo(r, [src]);
  expect(res.code, res.stderr).toBe(0);
  const sent = await listTree(src);
  const got = await listTree(path.join(r.sandbox, 'set'));
  expect(got.files).toEqual(sent.files);
  return src;
}

describe('sync on finalize', () => {
  it('is on by default: every file is synced before it is reported done', async () => {
    rx = await startTestReceiver();
    await sendThree(rx);
    expect(rx.daemon.receiver.counters()['files_synced_on_finalize']).toBe(3);
  }, 60_000);

  it('--no-sync-on-finalize reaches the addon: files arrive intact, none is synced', async () => {
    const cfg = serveConfigFromFlags(loadServeFlags(['--sandbox-dir', '/tmp/x', '--no-sync-on-finalize']).flags).config;
    expect(cfg.syncOnFinalize).toBe(false);
    expect(serveConfigFromFlags(loadServeFlags(['--sandbox-dir', '/tmp/x']).flags).config.syncOnFinalize).toBe(true);
    rx = await startTestReceiver({ syncOnFinalize: cfg.syncOnFinalize });
    await sendThree(rx);
    expect(rx.daemon.receiver.counters()['files_synced_on_finalize']).toBe(0);
  }, 60_000);

  it('the config file key "sync-on-finalize": false is the same opt-out', async () => {
    const dir = await tempDir('sync-conf');
    const file = path.join(dir, 'jetrecv.conf');
    await writeFile(file, JSON.stringify({ 'sandbox-dir': '/tmp/x', 'sync-on-finalize': false }));
    const { serveSpec } = await import('../../src/config/serve-spec.js');
    const spec = {
      ...serveSpec,
      flags: [...serveSpec.flags, { name: 'config', type: 'path' as const, valueName: 'FILE', help: 'config file' }],
    };
    const hasConfig = serveSpec.flags.some((f) => f.name === 'config');
    const loaded = loadServeFlags(['--config', file], hasConfig ? serveSpec : spec);
    expect(serveConfigFromFlags(loaded.flags).config.syncOnFinalize).toBe(false);
  });
});
