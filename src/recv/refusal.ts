// refusal.ts — the bound on free text the receiver sends to a sender (refusal reasons,
// transfer error messages, goodbye reasons). Reasons often quote sender-supplied paths
// and native error messages; bounded here, an encoded control message always fits the
// protocol's text limit (MAX_TEXT_BYTES), so encoding can never throw on them.
import type { ControlMessageInput } from '../proto/control.js';

/** Longest reason or message the receiver sends, in UTF-8 bytes (well under MAX_TEXT_BYTES). */
export const kMaxRefusalReasonBytes = 1024;
/** Longest error code sent (codes are short identifiers; anything longer is cut). */
export const kMaxCodeBytes = 64;

/** `text` cut to at most `maxBytes` UTF-8 bytes, on a character boundary, marked with '…' when cut. */
export function boundText(text: string, maxBytes = kMaxRefusalReasonBytes): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const room = maxBytes - 3; // '…' is 3 bytes
  const buf = Buffer.from(text, 'utf8');
  let end = room;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // not inside a multi-byte character
  return `${buf.subarray(0, end).toString('utf8')}…`;
}

/** The message with every free-text field (reason, message, code) bounded. */
export function boundControlText(msg: ControlMessageInput): ControlMessageInput {
  const m = { ...msg } as Record<string, unknown>;
  for (const field of ['reason', 'message'] as const)
    if (typeof m[field] === 'string') m[field] = boundText(m[field], kMaxRefusalReasonBytes);
  if (typeof m['code'] === 'string') m['code'] = boundText(m['code'], kMaxCodeBytes);
  return m as unknown as ControlMessageInput;
}
