// native-error-codes.test.ts — src/errors.ts mirrors the native error catalogue
// (native/src/core/errors.def): the addon's `errorCodes` and NativeErrorCodes hold the
// same codes under the same keys, and ErrorCodes carries every one of them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, NativeErrorCodes } from '../../src/errors.js';
import { addon } from '../../src/addon/binding.js';

const defPath = path.join(import.meta.dirname, '..', '..', 'native', 'src', 'core', 'errors.def');

describe('native error codes', () => {
  it('the addon exports exactly the codes of NativeErrorCodes', () => {
    expect([...addon.errorCodes].sort()).toEqual(Object.values(NativeErrorCodes).sort());
  });

  it('each NativeErrorCodes key is the KEY of its JETRECV_ERROR(Name, KEY) line', () => {
    const keys = [...readFileSync(defPath, 'utf8').matchAll(/^JETRECV_ERROR\(\w+, (\w+)\)/gm)].map((m) => m[1] ?? '');
    expect(keys.length).toBe(addon.errorCodes.length);
    for (const key of keys) expect(NativeErrorCodes).toHaveProperty(key, `JETRECV_ERR_${key}`);
  });

  it('ErrorCodes holds every native code, and no code twice', () => {
    for (const [key, code] of Object.entries(NativeErrorCodes)) expect(ErrorCodes).toHaveProperty(key, code);
    const codes = Object.values(ErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
  });
});
