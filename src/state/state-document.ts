// state-document.ts — the common envelope of jetrecv's JSON state files: a JSON object
// with a `version` number. Reading one either yields the object or throws
// JETRECV_ERR_STATE naming the file, the problem and what the operator can do about it.
import { ErrorCodes, JetrecvError } from '../errors.js';

export interface StateDocument {
  /** The parsed top-level object (its `version` already checked). */
  obj: Record<string, unknown>;
  /** Builds the error for a problem found while validating the rest of the object. */
  corrupt: (problem: string) => JetrecvError;
}

/**
 * Parses `text` (the contents of `filePath`) as a version-`version` state document.
 * `advice` ends every error message, e.g. "Fix the file or recreate the users ...".
 */
export function openStateDocument(text: string, filePath: string, version: number, advice: string): StateDocument {
  const corrupt = (problem: string): JetrecvError =>
    new JetrecvError(ErrorCodes.STATE, `${filePath} is corrupt: ${problem}. ${advice}`, { path: filePath });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw corrupt(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw corrupt('expected a JSON object');
  const obj = data as Record<string, unknown>;
  if (obj.version !== version) {
    throw corrupt(`unsupported version ${JSON.stringify(obj.version)} (this jetrecv reads version ${version})`);
  }
  return { obj, corrupt };
}
