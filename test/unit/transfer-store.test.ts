// TransferStore: records round-trip through the state directory; a truncated, modified or
// misnamed record file is detected, logged, renamed aside and never returned; leftover
// temp files are removed; overlapping saves of one record coalesce and the last state wins.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { TransferStore, decodeStoredTransfer, encodeStoredTransfer, type StoredTransfer } from '../../src/recv/transfer-store.js';
import { lastActivityTime, resumeExpired } from '../../src/recv/transfer-record.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function record(id: string, over: Partial<StoredTransfer> = {}): StoredTransfer {
  return {
    transferId: id,
    transferUid: 'ab'.repeat(16),
    clientPublicKey: 'k'.repeat(43) + '=',
    manifestHash: 'f'.repeat(64),
    destinationPath: '/d',
    sourceIP: '127.0.0.1',
    sourcePort: 1234,
    status: 'receiving',
    errorMessage: '',
    totalSize: 1000,
    filesTotal: 2,
    filesDone: 1,
    bytesReceived: 500,
    startTime: 1,
    endTime: null,
    lastErrorTime: null,
    lastRecvTime: null,
    lastSendTime: null,
    resumable: true,
    checkpoint: { time: 2, doneFiles: [0], ranges: [1, 0, 3], blocksHeld: 5, bytesHeld: 500 },
    ...over,
  };
}

async function stateDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'jetrecv-store-'));
  dirs.push(d);
  return d;
}

describe('transfer records on disk', () => {
  it('round-trips records and keeps nothing without a state directory', async () => {
    const dir = await stateDir();
    const { store } = await TransferStore.open(dir, logger);
    const a = record('a'.repeat(32));
    await store.save(a.transferId, () => a);
    const { records } = await TransferStore.open(dir, logger);
    expect(records).toEqual([a]);
    const mem = await TransferStore.open(undefined, logger);
    expect(mem.store.persistent).toBe(false);
    await mem.store.save(a.transferId, () => a);
    expect(mem.records).toEqual([]);
  });

  it('detects truncated, modified and misnamed files and never trusts them', async () => {
    const dir = await stateDir();
    const tdir = path.join(dir, 'transfers');
    await TransferStore.open(dir, logger);
    const good = record('1'.repeat(32));
    const text = encodeStoredTransfer(good);
    await writeFile(path.join(tdir, `${good.transferId}.json`), text);
    await writeFile(path.join(tdir, `${'2'.repeat(32)}.json`), text.slice(0, text.length - 20)); // truncated
    await writeFile(path.join(tdir, `${'3'.repeat(32)}.json`), text.replace('"bytesHeld":500', '"bytesHeld":900')); // modified
    await writeFile(path.join(tdir, `${'4'.repeat(32)}.json`), text); // names another transfer
    await writeFile(path.join(tdir, `${'5'.repeat(32)}.json.tmp-1-abc`), 'partial write');
    expect(() => decodeStoredTransfer(text.replace('"ranges":[1,0,3]', '"ranges":[1,0,4]'))).toThrow(/checksum/);
    const { records } = await TransferStore.open(dir, logger);
    expect(records.map((r) => r.transferId)).toEqual([good.transferId]);
    const names = (await readdir(tdir)).sort();
    expect(names).toEqual([
      `${'1'.repeat(32)}.json`,
      `${'2'.repeat(32)}.json.corrupt`,
      `${'3'.repeat(32)}.json.corrupt`,
      `${'4'.repeat(32)}.json.corrupt`,
    ]);
  });

  it('coalesces overlapping saves of one record; the latest state wins; null deletes', async () => {
    const dir = await stateDir();
    const { store } = await TransferStore.open(dir, logger);
    const id = 'c'.repeat(32);
    let state = record(id, { bytesReceived: 1 });
    const saves = [];
    for (let i = 2; i <= 20; i++) {
      saves.push(store.save(id, () => state));
      state = record(id, { bytesReceived: i });
    }
    await Promise.all(saves);
    await store.flush();
    const file = path.join(dir, 'transfers', `${id}.json`);
    expect(decodeStoredTransfer(await readFile(file, 'utf8')).bytesReceived).toBe(20);
    await store.remove(id);
    expect(await readdir(path.join(dir, 'transfers'))).toEqual([]);
  });
});

describe('resume retention', () => {
  const day = 86_400_000;
  const idle = (over: Partial<StoredTransfer>) =>
    record('c'.repeat(32), { status: 'error', startTime: 1_000_000, checkpoint: null, ...over });

  it('expires a resumable, not running transfer only when its latest activity is older than the retention', () => {
    const t = idle({ lastRecvTime: 5_000_000, endTime: 6_000_000 });
    expect(lastActivityTime(t)).toBe(6_000_000);
    expect(resumeExpired(t, 6_000_000 + day * 1000, day)).toBe(false); // exactly the retention
    expect(resumeExpired(t, 6_000_001 + day * 1000, day)).toBe(true);
    // A later checkpoint counts as activity.
    expect(
      resumeExpired(
        idle({ endTime: 6_000_000, checkpoint: { time: 9_000_000, doneFiles: [], ranges: [], blocksHeld: 0, bytesHeld: 0 } }),
        6_000_001 + day * 1000,
        day,
      ),
    ).toBe(false);
  });

  it('never expires a running or non-resumable transfer, nor anything with retention 0', () => {
    const far = 1e18;
    expect(resumeExpired(idle({ status: 'receiving' }), far, day)).toBe(false);
    expect(resumeExpired(idle({ resumable: false }), far, day)).toBe(false);
    expect(resumeExpired(idle({ status: 'complete', resumable: false }), far, day)).toBe(false);
    expect(resumeExpired(idle({}), far, 0)).toBe(false);
  });

  it('keeps the file list of a resumable transfer beside its record; a corrupt list is not trusted', async () => {
    const dir = await stateDir();
    const { store } = await TransferStore.open(dir, logger);
    const id = 'd'.repeat(32);
    const files = [
      { path: 'd/a.bin', size: 10 },
      { path: 'd/sub/b.bin', size: 0 },
    ];
    await store.save(id, () => record(id));
    await store.saveFiles(id, files);
    expect(await store.loadFiles(id)).toEqual(files);
    const file = path.join(dir, 'transfers', `${id}.files`);
    await writeFile(file, (await readFile(file, 'utf8')).replace('a.bin', 'x.bin'));
    expect(await store.loadFiles(id)).toBeNull();
    await store.remove(id);
    expect(await readdir(path.join(dir, 'transfers'))).toEqual([]);
    expect(await store.loadFiles(id)).toBeNull();
  });
});
