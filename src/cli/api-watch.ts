// api-watch.ts — `jetrecv api [--user U] watch`: prints GET /api/v1/events, one JSON object
// per line (transfer events and progress), until SIGINT/SIGTERM (exit 0) or until the server
// ends the stream (exit 1, with a line on stderr).
import type { JetrecvClient } from '../client/index.js';
import type { CommandIo } from './user-command.js';

/** The `jetrecv api` command that streams events instead of calling a method. */
export const WATCH_COMMAND = 'watch';

export async function printEvents(client: JetrecvClient, io: CommandIo): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for await (const event of client.events({ signal: stop.signal })) io.stdout.write(`${JSON.stringify(event)}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (stop.signal.aborted) return 0;
  io.stderr.write('jetrecv api watch: the server ended the event stream\n');
  return 1;
}
