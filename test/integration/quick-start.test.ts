// The README's quick start, run as written against a real daemon: every `npx jetrecv ...`
// line of its code blocks, in order, with only what differs on a test machine substituted
// (the built CLI for `npx jetrecv`, a temp sandbox for /srv/incoming, free ports for 8886,
// the keys the session printed for the placeholders, $RUNTIME_DIRECTORY for the admin socket's
// directory). No user and no state directory exist: the api lines work through the local
// admin socket. Edit the README and this test runs the edited session.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTree, repoRoot, runCli, tempDir, writeRandomFile } from './harness.js';
import { freePort, spawnJetrecv, type ServeProcess } from './serve-process.js';

/** The `npx jetrecv` command lines of the README's "Quick start" section, in order. */
async function quickStartCommands(): Promise<string[][]> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('## Quick start');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const commands: string[][] = [];
  for (const block of section.split('```sh').slice(1)) {
    for (const line of (block.split('```')[0] as string).split('\n')) {
      if (!line.startsWith('npx jetrecv ')) continue;
      // Words, with single-quoted words unquoted (the README quotes keys only).
      commands.push([...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => (m[1] ?? m[2]) as string));
    }
  }
  return commands;
}

let root: string | undefined;
let serve: ServeProcess | undefined;
afterAll(async () => {
  await serve?.stop();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('README quick start', () => {
  it('runs as written: serve, keygen, authorize, allow-only, send, list transfers', async () => {
    const commands = await quickStartCommands();
    expect(commands.map((c) => c.slice(2, 4).join(' '))).toEqual([
      'serve --sandbox-dir',
      'keygen --out',
      'api --wait',
      'api --wait',
      'send --to',
      'api --wait',
    ]);
    root = await tempDir('quick-start');
    const sandbox = path.join(root, 'incoming');
    const work = path.join(root, 'work');
    await mkdir(work);
    await writeRandomFile(path.join(work, 'footage.mov'), 3 << 20);
    await mkdir(path.join(work, 'stills'));
    for (const name of ['a.png', 'b.png']) await writeFile(path.join(work, 'stills', name), `still ${name}\n`);
    const env = { RUNTIME_DIRECTORY: path.join(root, 'run') };
    const recvPort = await freePort('udp');
    const values = new Map<string, string>([['/srv/incoming', sandbox]]);

    const outputs: string[] = [];
    for (const words of commands) {
      const args = words.slice(2).map((w) => values.get(w) ?? w.replace('127.0.0.1:8886', `127.0.0.1:${recvPort}`));
      if (args[0] === 'serve') {
        serve = spawnJetrecv([...args, '--recv-host', '127.0.0.1', '--recv-port', String(recvPort), '--api-port', '0'], { cwd: work, env });
        const ready = await serve.ready();
        values.set('q0...=', ready.publicKey);
        continue;
      }
      const r = await runCli(args, { env, timeoutMs: 60_000, cwd: work });
      expect(r.code, `${words.join(' ')}\n${r.stderr}`).toBe(0);
      outputs.push(r.stdout);
      if (args[0] === 'keygen') values.set('Sx...=', (/public key: (\S+)/.exec(r.stdout) as RegExpExecArray)[1] as string);
    }

    const [, added, allowOnly, , transfers] = outputs;
    expect(JSON.parse(added as string)).toMatchObject({ added: true, clientPublicKey: values.get('Sx...=') });
    expect(JSON.parse(allowOnly as string)).toEqual({ onlyAuthorizedClientsAllowed: true, changed: true });
    const listed = JSON.parse(transfers as string);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'complete', filesTotal: 3, filesDone: 3, clientPublicKey: values.get('Sx...=') });
    const received = await listTree(path.join(sandbox, 'projects', 'demo'));
    const sent = await listTree(work);
    sent.files.delete('sender.key');
    expect(received.files).toEqual(sent.files);
  });
});
