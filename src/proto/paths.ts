// paths.ts — the path rules of manifests and destination paths (pure string checks).
// A manifest path is relative, '/'-separated and canonical: no empty, '.' or '..' components,
// no control characters, components <= 255 bytes, whole path <= 4096 bytes (UTF-8). These rules
// keep every name inside the sandbox lexically; the native side additionally opens every
// component beneath the sandbox root (no symlink escapes).

import { ErrorCodes, JetrecvError } from '../errors.js';

/** Longest path, UTF-8 bytes (Linux PATH_MAX). Applies to manifest paths and joined paths. */
export const MAX_PATH_BYTES = 4096;
/** Longest single component, UTF-8 bytes (Linux NAME_MAX). */
export const MAX_COMPONENT_BYTES = 255;

// C0 controls (NUL included), DEL and C1 controls: never valid in a jetrecv path.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHAR = /[\u0000-\u001f\u007f-\u009f]/;

/** The path as shown in messages: JSON-quoted (control characters escaped), long ones shortened (at most 160 characters, < 1 KiB). */
export function shownPath(p: string): string {
  return JSON.stringify(p.length > 200 ? `${p.slice(0, 100)}…${p.slice(-60)}` : p);
}

function invalid(what: string, p: string, reason: string): JetrecvError {
  return new JetrecvError(ErrorCodes.PATH_INVALID, `${what} ${shownPath(p)} is invalid: ${reason}`, {
    path: p,
    reason,
  });
}

/**
 * Checks a relative manifest path and returns it unchanged (it is already canonical when valid).
 * `what` names the path in the error, e.g. "file 3 path". Throws JetrecvError PATH_INVALID when
 * the path is empty, absolute, has an empty ('a//b', trailing '/'), '.' or '..' component,
 * contains a control character (NUL included), or is too long. '.' components are refused
 * rather than normalised away, so every file has exactly one name. Backslashes are ordinary
 * characters (Linux).
 */
export function validateRelativePath(p: string, what: string): string {
  if (typeof p !== 'string' || p === '') throw invalid(what, String(p), 'empty');
  if (p.startsWith('/')) throw invalid(what, p, 'absolute (starts with /)');
  const control = CONTROL_CHAR.exec(p);
  if (control !== null) {
    throw invalid(what, p, `contains control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (p.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(p, 'utf8') > MAX_PATH_BYTES) {
    throw invalid(what, p, `longer than ${MAX_PATH_BYTES} bytes`);
  }
  for (const component of p.split('/')) {
    if (component === '') throw invalid(what, p, "empty component ('//' or trailing '/')");
    if (component === '..') throw invalid(what, p, "'..' component");
    if (component === '.') throw invalid(what, p, "'.' component");
    if (component.length * 3 > MAX_COMPONENT_BYTES && Buffer.byteLength(component, 'utf8') > MAX_COMPONENT_BYTES) {
      throw invalid(what, p, `component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
  }
  return p;
}

/**
 * Normalises a JetStream destinationPath to a path relative to the sandbox root. A leading '/'
 * means "from the sandbox root" ('/repository1' -> 'repository1'); '' and '/' are the root itself
 * (''); one trailing '/' is allowed. Everything else follows {@link validateRelativePath}, so
 * '..' anywhere is refused. Throws JetrecvError PATH_INVALID.
 */
export function normalizeDestinationPath(d: string): string {
  if (typeof d !== 'string') throw invalid('destination path', String(d), 'not a string');
  let rel = d.startsWith('/') ? d.slice(1) : d;
  if (rel.endsWith('/')) rel = rel.slice(0, -1);
  if (rel === '') {
    if (d.length > 1) throw invalid('destination path', d, "empty component ('//')");
    return '';
  }
  try {
    return validateRelativePath(rel, 'destination path');
  } catch (err) {
    // Report the path as the user wrote it.
    const reason = (err as JetrecvError).details?.reason;
    throw invalid('destination path', d, typeof reason === 'string' ? reason : (err as Error).message);
  }
}

/**
 * Joins a destination path (raw or normalised) and a manifest file path into one path relative
 * to the sandbox root. Both parts are validated; the result must fit in MAX_PATH_BYTES.
 * Throws JetrecvError PATH_INVALID.
 */
export function joinDestination(dest: string, file: string): string {
  const d = normalizeDestinationPath(dest);
  const f = validateRelativePath(file, 'file path');
  const joined = d === '' ? f : `${d}/${f}`;
  if (Buffer.byteLength(joined, 'utf8') > MAX_PATH_BYTES) {
    throw invalid('destination + file path', joined, `longer than ${MAX_PATH_BYTES} bytes`);
  }
  return joined;
}
