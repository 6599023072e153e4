import { describe, expect, it } from 'vitest';
import { boundControlText, boundText, kMaxCodeBytes, kMaxRefusalReasonBytes } from '../../src/recv/refusal.js';
import { encodeControl, decodeControl } from '../../src/proto/control.js';

describe('refusal text bounds', () => {
  it('cuts long text on a character boundary and marks the cut', () => {
    const t = boundText('é'.repeat(2000));
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(kMaxRefusalReasonBytes);
    expect(t.endsWith('…')).toBe(true);
    expect(t).not.toContain('\ufffd');
    expect(boundText('short')).toBe('short');
  });

  it('a refusal quoting two 4,095-byte paths still encodes', () => {
    const p = 'a'.repeat(4095);
    const msg = boundControlText({
      kind: 'transferRefuse',
      transferId: 1,
      code: 'X'.repeat(500),
      reason: `'${p}' is a file but also a directory of '${p}/b'`,
    });
    expect(() => encodeControl({ kind: 'transferRefuse', transferId: 1, code: 'X', reason: `'${p}' and '${p}'` })).toThrow();
    const back = decodeControl(encodeControl(msg));
    expect(back.kind).toBe('transferRefuse');
    if (back.kind === 'transferRefuse') {
      expect(Buffer.byteLength(back.reason)).toBeLessThanOrEqual(kMaxRefusalReasonBytes);
      expect(back.code.length).toBeLessThanOrEqual(kMaxCodeBytes);
    }
  });
});
