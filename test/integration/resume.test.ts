// Checkpoints and resume with real processes: `jetrecv serve` killed with SIGKILL in the
// middle of a multi-file transfer and started again on the same state directory (the
// running sender reconnects and sends only what was not checkpointed); `jetrecv send`
// killed and run again (it resumes); a corrupted checkpoint file (detected, ignored, the
// transfer restarts from zero and still ends intact). Bytes are asserted, never times.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listTree, runCli, sha256File, tempDir, writeRandomFile } from './harness.js';
import { freeUdpPort, parseSummary, readRecords, startSend, startServe, waitFor, type ServeProcess } from './daemon-process.js';

const kFiles = 3;
const kFileSize = 12 << 20;
const kTotal = kFiles * kFileSize;
const kRateBps = 40e6; // --rate-max: slow enough to stop the transfer in the middle
const kCheckpointSeconds = 1;
const kBlock = 8972 - 56;

let root: string;
let src: string;
let keyFile: string;
const hashes = new Map<string, string>();
const running: ServeProcess[] = [];

beforeAll(async () => {
  root = await tempDir('resume');
  src = path.join(root, 'src');
  await mkdir(path.join(src, 'set'), { recursive: true });
  for (let i = 0; i < kFiles; i++) {
    const f = path.join(src, 'set', `part${i}.bin`);
    await writeRandomFile(f, kFileSize);
    hashes.set(`set/part${i}.bin`, await sha256File(f));
  }
  keyFile = path.join(root, 'sender.key');
  const kg = await runCli(['keygen', '--out', keyFile]);
  expect(kg.code, kg.stderr).toBe(0);
});
afterAll(async () => {
  for (const p of running) p.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

async function setup(name: string) {
  const dir = path.join(root, name);
  const sandbox = path.join(dir, 'sandbox');
  const stateDir = path.join(dir, 'state');
  const resumeDir = path.join(dir, 'resume');
  await mkdir(sandbox, { recursive: true });
  const port = await freeUdpPort();
  const serve = async (extra: string[] = []) => {
    const p = await startServe({ sandbox, stateDir, port, extra });
    running.push(p);
    return p;
  };
  const sendArgs = (publicKey: string) => [
    '--to',
    `127.0.0.1:${port}`,
    '--server-key',
    publicKey,
    '--key',
    keyFile,
    '--dest',
    'd',
    '--rate-max',
    String(kRateBps),
    '--datagram-size',
    '8972',
    '--checkpoint-interval',
    String(kCheckpointSeconds),
    '--resume-dir',
    resumeDir,
    '--handshake-timeout',
    '10s',
    path.join(src, 'set'),
  ];
  return { sandbox, stateDir, resumeDir, serve, sendArgs };
}

/** The newest on-disk checkpoint once it holds at least `fraction` of the bytes. */
function checkpointAtLeast(stateDir: string, fraction: number) {
  return waitFor(`a checkpoint holding ${fraction * 100}% of the bytes`, async () => {
    const recs = await readRecords(stateDir);
    const r = recs.find((x) => x.checkpoint && x.checkpoint.bytesHeld >= fraction * kTotal);
    return r;
  });
}

/** Every final (non-hidden) file in the sandbox is complete and intact; returns partial names. */
async function checkNoTornFinals(sandbox: string): Promise<string[]> {
  const dir = path.join(sandbox, 'd', 'set');
  const partials: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return partials;
  }
  for (const n of names) {
    if (n.startsWith('.')) {
      partials.push(n);
      continue;
    }
    expect(await sha256File(path.join(dir, n)), `final file ${n} is complete`).toBe(hashes.get(`set/${n}`));
  }
  return partials;
}

async function expectIntact(sandbox: string): Promise<void> {
  const tree = await listTree(path.join(sandbox, 'd'));
  expect([...tree.files.keys()].sort()).toEqual([...hashes.keys()].sort());
  for (const [p, h] of hashes) expect(tree.files.get(p), p).toBe(h);
  expect(tree.other).toEqual([]);
}

describe('checkpoints and resume', () => {
  it('resumes after the receiver is killed with SIGKILL; re-sent bytes stay within one checkpoint interval plus detection', async () => {
    const { sandbox, stateDir, serve, sendArgs } = await setup('rx-kill');
    const rx1 = await serve();
    const send = startSend(sendArgs(rx1.publicKey));
    await checkpointAtLeast(stateDir, 0.4);
    // Never a partial file under its final name, even mid-transfer.
    expect((await checkNoTornFinals(sandbox)).length).toBeGreaterThan(0);
    rx1.child.kill('SIGKILL');
    expect(await rx1.exited).toBe('SIGKILL');
    const [atKill] = (await readRecords(stateDir)).filter((r) => r.checkpoint);
    expect(atKill).toBeDefined();
    const heldAtKill = atKill!.checkpoint!.blocksHeld;
    await checkNoTornFinals(sandbox);

    const rx2 = await serve(); // same port, same state directory, same key
    const res = await send.done;
    expect(res.code, res.stderr).toBe(0);
    const sum = parseSummary(res.stdout);
    expect(sum.reconnects).toBeGreaterThanOrEqual(1);
    // The restarted receiver announced at least what its last checkpoint held...
    expect(sum.blocksResumed).toBeGreaterThanOrEqual(heldAtKill);
    expect(heldAtKill * kBlock).toBeGreaterThanOrEqual(0.4 * kTotal - kBlock);
    // ...so the sender re-sent only what one checkpoint interval, the detection of the
    // dead receiver (3 s of silence) and a margin can hold at the capped rate.
    const resent = sum.bytesSent - kTotal;
    const bound = (kRateBps / 8) * (kCheckpointSeconds + 3 + 2);
    console.log(
      `receiver SIGKILL: checkpoint held ${((heldAtKill * kBlock) / 2 ** 20).toFixed(1)} MiB of ${kTotal / 2 ** 20} MiB; re-sent ${(resent / 2 ** 20).toFixed(1)} MiB (bound ${(bound / 2 ** 20).toFixed(1)} MiB)`,
    );
    expect(resent).toBeLessThanOrEqual(bound);
    await expectIntact(sandbox);
    // The record persists as complete; nothing resumable is left behind.
    const recs = await readRecords(stateDir);
    expect(recs.map((r) => [r.status, r.resumable])).toEqual([['complete', false]]);
    rx2.child.kill('SIGTERM');
    expect(await rx2.exited).toBe(0);
  }, 90_000);

  it('resumes when the sender is killed with SIGKILL and run again', async () => {
    const { sandbox, stateDir, resumeDir, serve, sendArgs } = await setup('tx-kill');
    const rx = await serve();
    const send1 = startSend(sendArgs(rx.publicKey));
    const cp = await checkpointAtLeast(stateDir, 0.3);
    send1.child.kill('SIGKILL');
    await send1.done;
    expect((await readdir(resumeDir)).length).toBe(1); // the sender remembered the transfer

    const send2 = startSend([...sendArgs(rx.publicKey), '--log-level', 'debug']);
    const res = await send2.done;
    expect(res.code, res.stderr).toBe(0);
    const sum = parseSummary(res.stdout);
    expect(sum.resumedEarlierRun).toBe(true);
    // A resume sends no early train: what the receiver holds is unknown before the accept.
    expect(res.stderr).not.toMatch(/first train sent before the accept/);
    expect(sum.blocksResumedAtStart).toBeGreaterThanOrEqual(cp.checkpoint!.blocksHeld);
    expect(sum.bytesSent).toBeLessThan(kTotal - cp.checkpoint!.bytesHeld + kTotal * 0.05);
    await expectIntact(sandbox);
    expect(await readdir(resumeDir)).toEqual([]); // forgotten once complete
    rx.child.kill('SIGTERM');
    expect(await rx.exited).toBe(0);
  }, 90_000);

  it('resumes when the sender is interrupted with SIGINT (Ctrl-C) and run again, and says so in the summary', async () => {
    const { sandbox, stateDir, resumeDir, serve, sendArgs } = await setup('tx-sigint');
    const rx = await serve();
    const send1 = startSend(sendArgs(rx.publicKey));
    const cp = await checkpointAtLeast(stateDir, 0.3);
    send1.child.kill('SIGINT');
    const first = await send1.done;
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/run the same send again to resume/);
    expect((await readdir(resumeDir)).length).toBe(1); // still remembered
    // The receiver kept the transfer resumable, with its partials.
    const held = await waitFor('the record to be resumable and not receiving', async () =>
      (await readRecords(stateDir)).find((r) => r.resumable && r.status !== 'receiving'),
    );
    expect(held.checkpoint!.blocksHeld).toBeGreaterThanOrEqual(cp.checkpoint!.blocksHeld);
    expect((await checkNoTornFinals(sandbox)).length).toBeGreaterThan(0);

    // Run again, human summary: it resumes and says how much was already there.
    const res = await runCli(['send', ...sendArgs(rx.publicKey)]);
    expect(res.code, res.stderr).toBe(0);
    const m = /; resumed: ([\d.]+) MiB were already there/.exec(res.stdout);
    expect(m, res.stdout).not.toBeNull();
    expect(Number(m![1]) * 2 ** 20).toBeGreaterThanOrEqual(cp.checkpoint!.bytesHeld - 2 ** 20);
    await expectIntact(sandbox);
    expect(await readdir(resumeDir)).toEqual([]);
    rx.child.kill('SIGTERM');
    expect(await rx.exited).toBe(0);
  }, 90_000);

  it('detects a corrupted checkpoint, ignores it and restarts the transfer cleanly', async () => {
    const { sandbox, stateDir, serve, sendArgs } = await setup('corrupt');
    const rx1 = await serve();
    const send1 = startSend(sendArgs(rx1.publicKey));
    const cp = await checkpointAtLeast(stateDir, 0.3);
    send1.child.kill('SIGKILL');
    await send1.done;
    rx1.child.kill('SIGTERM'); // graceful: writes the final checkpoint
    expect(await rx1.exited).toBe(0);
    const file = path.join(stateDir, 'transfers', `${cp.transferId}.json`);
    const text = await readFile(file, 'utf8');
    // Flip one digit inside the checkpoint's ranges: same length, still valid JSON.
    const at = text.indexOf('"ranges":[') + 10;
    const digit = text[at]!;
    await writeFile(file, text.slice(0, at) + (digit === '1' ? '2' : '1') + text.slice(at + 1));

    const rx2 = await serve();
    expect(rx2.lines.some((l) => l.includes('corrupt transfer checkpoint ignored'))).toBe(true);
    expect((await readdir(path.join(stateDir, 'transfers'))).some((n) => n.endsWith('.corrupt'))).toBe(true);
    const send2 = startSend(sendArgs(rx2.publicKey));
    const res = await send2.done;
    expect(res.code, res.stderr).toBe(0);
    const sum = parseSummary(res.stdout);
    expect(sum.resumedEarlierRun).toBe(true); // the sender offered to resume...
    expect(sum.blocksResumedAtStart).toBe(0); // ...but the receiver trusted nothing
    expect(sum.bytesSent).toBeGreaterThanOrEqual(kTotal);
    await expectIntact(sandbox);
    rx2.child.kill('SIGTERM');
    expect(await rx2.exited).toBe(0);
  }, 90_000);

  it('drops a resumable transfer idle longer than --resume-retention and removes only its own partials', async () => {
    const { sandbox, stateDir, serve, sendArgs } = await setup('retention');
    const rx1 = await serve();
    const send1 = startSend(sendArgs(rx1.publicKey));
    const cp = await checkpointAtLeast(stateDir, 0.2);
    send1.child.kill('SIGKILL');
    await send1.done;
    rx1.child.kill('SIGTERM');
    expect(await rx1.exited).toBe(0);
    const dir = path.join(sandbox, 'd', 'set');
    const partials = (await readdir(dir)).filter((n) => n.endsWith('.jrpart')).sort();
    // `.NAME.TAG.jrpart`: one tag, the transfer's own.
    for (const n of partials) expect(n).toMatch(/^\.part[0-2]\.bin\.([0-9a-f]{16})\.jrpart$/);
    expect(new Set(partials.map((n) => n.split('.')[3])).size).toBe(1);
    expect(partials.length).toBeGreaterThanOrEqual(2);
    // One partial is replaced by a symlink to a file outside the sandbox, of the very size the
    // partial had: it must be left alone (and never followed). An unrelated file stays too.
    const outside = path.join(path.dirname(sandbox), 'outside.bin');
    await writeRandomFile(outside, kFileSize);
    const outsideHash = await sha256File(outside);
    const swapped = path.join(dir, partials[partials.length - 1]!);
    await rm(swapped);
    await symlink(outside, swapped);
    await writeFile(path.join(dir, 'unrelated.txt'), 'keep me');
    expect((await readdir(path.join(stateDir, 'transfers'))).sort()).toEqual([`${cp.transferId}.files`, `${cp.transferId}.json`]);

    await new Promise((r) => setTimeout(r, 1500)); // older than the 1 s retention
    const rx2 = await serve(['--resume-retention', '1s']);
    await waitFor('the expiry log line', async () => rx2.lines.find((l) => l.includes('resumable transfer expired')));
    const line = JSON.parse(rx2.lines.find((l) => l.includes('resumable transfer expired'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ transferId: cp.transferId, partialsRemoved: partials.length - 1, leftAloneCount: 1, fileListKnown: true });
    // The record and its file list are gone; so are its real partials.
    expect(await readdir(path.join(stateDir, 'transfers'))).toEqual([]);
    const left = (await readdir(dir)).sort();
    expect(left).toEqual([path.basename(swapped), 'unrelated.txt'].sort());
    expect((await lstat(swapped)).isSymbolicLink()).toBe(true);
    expect(await readlink(swapped)).toBe(outside);
    expect(await sha256File(outside)).toBe(outsideHash);
    rx2.child.kill('SIGTERM');
    expect(await rx2.exited).toBe(0);
  }, 90_000);
});
