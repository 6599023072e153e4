// What a caller without a session learns from a real `jetrecv serve` whose API is open to
// the network (--api-allow-remote-control): server.getServerInfo and GET /metrics never show
// the sandbox path (where files land on the server's disk); a logged-in caller sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { JetrecvClient } from '../../src/client/index.js';
import { runCli, tempDir } from './harness.js';
import { spawnJetrecv, type ServeProcess } from './serve-process.js';

const PASSWORD = 'anonymous-test-password';
let root: string;
let sandbox: string;
let serve: ServeProcess;
let apiPort: number;

beforeAll(async () => {
  root = await tempDir('anon');
  sandbox = path.join(root, 'sandbox-secret-location');
  const stateDir = path.join(root, 'state');
  const r = await runCli(['user', 'add', 'carol', '--persistent-state-dir', stateDir], { env: { JETRECV_USER_PASSWORD: PASSWORD } });
  expect(r.code, r.stderr).toBe(0);
  serve = spawnJetrecv([
    'serve',
    '--sandbox-dir',
    sandbox,
    '--persistent-state-dir',
    stateDir,
    '--recv-host',
    '127.0.0.1',
    '--recv-port',
    '0',
    '--api-port',
    '0',
    '--api-allow-remote-control',
    '--api-host',
    '127.0.0.1',
  ]);
  apiPort = (await serve.ready()).apiPort as number;
});
afterAll(async () => {
  await serve?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('anonymous callers with remote control on', () => {
  it('getServerInfo without a session hides the sandbox path; with a session it is shown', async () => {
    const anon = await fetch(`http://127.0.0.1:${apiPort}/api/v1/server.getServerInfo`, {
      method: 'POST',
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(anon.status).toBe(200);
    const text = await anon.text();
    expect(text).not.toContain('sandbox-secret-location');
    expect((JSON.parse(text) as { receiver: Record<string, unknown> }).receiver).not.toHaveProperty('sandboxDir');

    const carol = new JetrecvClient({ host: '127.0.0.1', port: apiPort });
    await carol.server.auth('carol', PASSWORD);
    const info = (await carol.server.getServerInfo()) as unknown as { receiver: { sandboxDir?: string } };
    expect(info.receiver.sandboxDir).toBe(sandbox);
  });

  it('GET /metrics does not show the sandbox path', async () => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('jetrecv_info');
    expect(text).not.toContain('sandbox-secret-location');
  });
});
