// Partial files belong to one transfer (issue 12, findings 4 and 7), with real `jetrecv serve`
// and `jetrecv send` processes: two senders to one destination path at once never mix their
// bytes; a resume never trusts a partial another sender wrote into; partials of transfers
// that cannot resume are removed when the transfer ends and swept at the next start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { freeUdpPort, readRecords, startSend, startServe, waitFor, type ServeProcess } from './daemon-process.js';

const kSize = 24 << 20;
const kRateBps = 40e6; // slow enough that the two transfers overlap / can be stopped midway

let root: string;
const running: ServeProcess[] = [];
const keys: string[] = [];
/** Two sources of the same name and size, different bytes: a/x.bin and b/x.bin. */
const src = { a: '', b: '' };
const hash = { a: '', b: '' };

beforeAll(async () => {
  root = await tempDir('partown');
  for (const side of ['a', 'b'] as const) {
    await mkdir(path.join(root, side), { recursive: true });
    src[side] = path.join(root, side, 'x.bin');
    await writeRandomFile(src[side], kSize);
    hash[side] = await sha256File(src[side]);
    const keyFile = path.join(root, `${side}.key`);
    const kg = await runCli(['keygen', '--out', keyFile]);
    expect(kg.code, kg.stderr).toBe(0);
    keys.push(keyFile);
  }
});
afterAll(async () => {
  for (const p of running) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

async function setup(name: string) {
  const dir = path.join(root, name);
  const sandbox = path.join(dir, 'sandbox');
  const stateDir = path.join(dir, 'state');
  await mkdir(sandbox, { recursive: true });
  const port = await freeUdpPort();
  const serve = async (extra: string[] = []) => {
    const p = await startServe({ sandbox, stateDir, port, extra });
    running.push(p);
    return p;
  };
  const sendArgs = (publicKey: string, side: 'a' | 'b', extra: string[] = []) => [
    '--to',
    `127.0.0.1:${port}`,
    '--server-key',
    publicKey,
    '--key',
    keys[side === 'a' ? 0 : 1]!,
    '--dest',
    'd',
    '--rate-max',
    String(kRateBps),
    '--datagram-size',
    '8972',
    '--handshake-timeout',
    '10s',
    '--resume-dir',
    path.join(dir, `resume-${side}`),
    ...extra,
    src[side],
  ];
  return { dir, sandbox, stateDir, serve, sendArgs };
}

/** Names in the destination directory (final and partial). */
async function names(sandbox: string): Promise<string[]> {
  try {
    return (await readdir(path.join(sandbox, 'd'))).sort();
  } catch {
    return [];
  }
}

describe('partial files belong to one transfer', () => {
  it('two senders to the same destination path at once: one is refused naming the path, the other file is intact', async () => {
    const { sandbox, serve, sendArgs } = await setup('concurrent');
    const rx = await serve();
    const sa = startSend(sendArgs(rx.publicKey, 'a'));
    // b starts once a's partial exists (a is receiving).
    await waitFor('the first partial', async () => ((await names(sandbox)).some((n) => n.endsWith('.jrpart')) ? true : undefined));
    const sb = startSend(sendArgs(rx.publicKey, 'b'));
    const [ra, rb] = await Promise.all([sa.done, sb.done]);
    const final = await sha256File(path.join(sandbox, 'd', 'x.bin'));
    // Never mixed: the final file is exactly one sender's bytes, and the one that
    // reported success is the one whose bytes are there.
    expect([hash.a, hash.b]).toContain(final);
    expect(ra.code, ra.stderr).toBe(0);
    expect(final).toBe(hash.a);
    expect(rb.code).not.toBe(0);
    expect(rb.stderr).toMatch(/d\/x\.bin/);
    expect(rb.stderr).toMatch(/being received/);
    // Nothing is left behind: b's refused attempt reserved nothing.
    expect(await names(sandbox)).toEqual(['x.bin']);
    rx.child.kill('SIGTERM');
    expect(await rx.exited).toBe(0);
  }, 90_000);

  it('a resume after another sender wrote to the same path trusts only its own partial', async () => {
    const { sandbox, stateDir, serve, sendArgs } = await setup('resume-touched');
    const cpArgs = ['--checkpoint-interval', '1'];
    // a: resumable, stopped at >= 30 %; the receiver stops gracefully (final checkpoint).
    const rx1 = await serve();
    const sa1 = startSend(sendArgs(rx1.publicKey, 'a', cpArgs));
    const cpA = await waitFor('a checkpoint of a', async () =>
      (await readRecords(stateDir)).find((r) => (r.checkpoint?.bytesHeld ?? 0) >= 0.3 * kSize),
    );
    sa1.child.kill('SIGKILL');
    await sa1.done;
    rx1.child.kill('SIGTERM');
    expect(await rx1.exited).toBe(0);
    // b (another key) writes the same path, and is stopped midway too.
    const rx2 = await serve();
    const sb = startSend(sendArgs(rx2.publicKey, 'b', cpArgs));
    await waitFor('a checkpoint of b', async () =>
      (await readRecords(stateDir)).find((r) => r.transferId !== cpA.transferId && (r.checkpoint?.bytesHeld ?? 0) >= 0.3 * kSize),
    );
    sb.child.kill('SIGKILL');
    await sb.done;
    rx2.child.kill('SIGTERM');
    expect(await rx2.exited).toBe(0);
    // a resumes: its file must be its own bytes, whatever b left behind.
    const rx3 = await serve();
    const ra = await startSend(sendArgs(rx3.publicKey, 'a', cpArgs)).done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(await sha256File(path.join(sandbox, 'd', 'x.bin'))).toBe(hash.a);
    rx3.child.kill('SIGTERM');
    expect(await rx3.exited).toBe(0);
  }, 120_000);
});

describe('no disk stays reserved by a transfer that cannot resume', () => {
  it('a non-resumable transfer whose sender vanished: its partial is removed when the session ends', async () => {
    const { sandbox, serve, sendArgs } = await setup('nonresumable-end');
    const rx = await serve(['--session-timeout', '2s']);
    const sa = startSend(sendArgs(rx.publicKey, 'a', ['--checkpoint-interval', '0']));
    await waitFor('the partial', async () => ((await names(sandbox)).some((n) => n.endsWith('.jrpart')) ? true : undefined));
    sa.child.kill('SIGKILL');
    await sa.done;
    await waitFor('the session to time out', async () => (rx.lines.some((l) => l.includes('session closed')) ? true : undefined));
    await waitFor('the partial to go', async () => ((await names(sandbox)).length === 0 ? true : undefined), 10_000);
    rx.child.kill('SIGTERM');
    expect(await rx.exited).toBe(0);
  }, 60_000);

  it('at start, partials no resumable transfer owns are swept; owned ones, foreign files and symlinks stay', async () => {
    const { sandbox, stateDir, serve, sendArgs } = await setup('sweep');
    // A resumable transfer stopped midway (its partial must survive the sweep)...
    const rx1 = await serve();
    const sa = startSend(sendArgs(rx1.publicKey, 'a', ['--checkpoint-interval', '1']));
    await waitFor('a checkpoint', async () => (await readRecords(stateDir)).find((r) => (r.checkpoint?.bytesHeld ?? 0) >= 0.2 * kSize));
    sa.child.kill('SIGKILL');
    await sa.done;
    rx1.child.kill('SIGTERM');
    expect(await rx1.exited).toBe(0);
    const owned = (await names(sandbox)).filter((n) => n.endsWith('.jrpart'));
    expect(owned.length).toBe(1);
    // ...and a non-resumable one to another path, with the receiver killed (no clean end).
    const rx2 = await serve();
    const bArgs = sendArgs(rx2.publicKey, 'b', ['--checkpoint-interval', '0']);
    bArgs.splice(bArgs.indexOf('d'), 1, 'e');
    const sb = startSend(bArgs);
    const eDir = path.join(sandbox, 'e');
    await waitFor('the second partial', async () =>
      (await readdir(eDir).catch(() => [] as string[])).some((n) => n.endsWith('.jrpart')) ? true : undefined,
    );
    rx2.child.kill('SIGKILL');
    await rx2.exited;
    sb.child.kill('SIGKILL');
    await sb.done;
    const orphan = (await readdir(eDir)).filter((n) => n.endsWith('.jrpart'));
    expect(orphan.length).toBe(1);
    expect((await stat(path.join(eDir, orphan[0]!))).size).toBe(kSize); // preallocated
    await writeFile(path.join(eDir, 'notes.jrpart'), 'not ours');
    // Next start: the orphan goes, the rest stays.
    const rx3 = await serve();
    await waitFor('the sweep log line', async () => rx3.lines.find((l) => l.includes('orphaned partial files swept')));
    expect((await readdir(eDir)).sort()).toEqual(['notes.jrpart']);
    expect((await names(sandbox)).filter((n) => n.endsWith('.jrpart'))).toEqual(owned);
    rx3.child.kill('SIGTERM');
    expect(await rx3.exited).toBe(0);
  }, 120_000);
});
