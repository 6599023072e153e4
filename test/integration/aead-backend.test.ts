// The AEAD back end of a real `jetrecv serve`: named in its ready log line and on
// /metrics (jetrecv_aead_backend{cipher,backend}), forced to OpenSSL by JETRECV_AEAD,
// refused with a clear error for a bad JETRECV_AEAD; and real transfers between a
// sender on one back end and a receiver on the other, for both ciphers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { scrapeMetrics, spawnJetrecv, type ReadyInfo, type ServeProcess } from './serve-process.js';
import { addon } from '../../src/addon/binding.js';

const CIPHERS = ['aes-256-gcm', 'chacha20-poly1305'] as const;

let root: string;

beforeAll(async () => {
  root = await tempDir('aead-backend');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function startServe(name: string, env: Record<string, string | undefined>): Promise<{ serve: ServeProcess; info: ReadyInfo }> {
  const serve = spawnJetrecv(
    ['serve', '--sandbox-dir', path.join(root, name), '--recv-host', '127.0.0.1', '--recv-port', '0', '--api-port', '0'],
    { env },
  );
  return { serve, info: await serve.ready() };
}

/** jetrecv_aead_backend samples as cipher → backend. */
async function metricsBackends(apiPort: number): Promise<Record<string, string>> {
  const { families } = await scrapeMetrics(apiPort);
  const fam = families.get('jetrecv_aead_backend');
  expect(fam?.type).toBe('gauge');
  const out: Record<string, string> = {};
  for (const s of fam!.samples) {
    expect(s.value).toBe(1);
    out[s.labels['cipher'] as string] = s.labels['backend'] as string;
  }
  return out;
}

describe('AEAD back end of jetrecv serve', () => {
  it('logs and exports the back end this build and CPU choose, and opens data sealed by the other back end', async () => {
    const { serve, info } = await startServe('default', { JETRECV_AEAD: undefined });
    try {
      const ready = serve.logs.find((l) => l.msg === 'jetrecv receiver ready')!;
      expect(ready['aeadBackends']).toEqual(addon.aeadBackends);
      expect(await metricsBackends(info.apiPort as number)).toEqual(addon.aeadBackends);
      for (const cipher of CIPHERS) expect(['ipsec-mb', 'openssl']).toContain(addon.aeadBackends[cipher]);
      if (addon.aeadBackends['aes-256-gcm'] === 'openssl') {
        console.log('aead-backend: intel-ipsec-mb not built in or no AES-NI here; the cross-back-end transfer is OpenSSL on both ends');
      }
      // The sender forced to OpenSSL, the receiver on its default: every packet crosses back ends.
      const src = path.join(root, 'payload.bin');
      await writeRandomFile(src, 3 << 20);
      for (const cipher of CIPHERS) {
        const sent = await runCli(
          [
            'send',
            '--to',
            `127.0.0.1:${info.recvPort}`,
            '--server-key',
            info.publicKey,
            '--cipher',
            cipher,
            '--quiet',
            '--dest',
            cipher,
            src,
          ],
          { env: { JETRECV_AEAD: 'openssl' } },
        );
        expect(sent.code, sent.stderr).toBe(0);
        expect(await sha256File(path.join(info.sandboxDir, cipher, 'payload.bin'))).toBe(await sha256File(src));
      }
    } finally {
      await serve.stop();
    }
  });

  it('JETRECV_AEAD=openssl forces OpenSSL for both ciphers', async () => {
    const { serve, info } = await startServe('forced', { JETRECV_AEAD: 'openssl' });
    try {
      const expected = { 'aes-256-gcm': 'openssl', 'chacha20-poly1305': 'openssl' };
      expect(serve.logs.find((l) => l.msg === 'jetrecv receiver ready')!['aeadBackends']).toEqual(expected);
      expect(await metricsBackends(info.apiPort as number)).toEqual(expected);
    } finally {
      await serve.stop();
    }
  });

  it('a bad JETRECV_AEAD stops the start with an error naming it', async () => {
    const serve = spawnJetrecv(['serve', '--sandbox-dir', path.join(root, 'bad'), '--recv-port', '0', '--api-port', '0'], {
      env: { JETRECV_AEAD: 'fastest' },
    });
    const st = await serve.exited;
    expect(st.code).not.toBe(0);
    expect(`${serve.stderr()}${JSON.stringify(serve.logs)}`).toMatch(/JETRECV_AEAD must be 'auto' or 'openssl' \(got 'fastest'\)/);
  });
});

describe('AEAD back end of jetrecv send', () => {
  it('a bad JETRECV_AEAD stops jetrecv send with an error naming it', async () => {
    const src = path.join(root, 'small.bin');
    await writeRandomFile(src, 1024);
    const key = randomBytes(32).toString('base64'); // nobody listens: the check comes first
    const sent = await runCli(['send', '--to', '127.0.0.1:9', '--server-key', key, '--quiet', src], { env: { JETRECV_AEAD: 'fastest' } });
    expect(sent.code).not.toBe(0);
    expect(sent.stderr).toMatch(/JETRECV_AEAD must be 'auto' or 'openssl' \(got 'fastest'\)/);
  });
});
