// package-root.ts — where the package's own files live (dist/addon/ and src/addon/ are both
// two levels below the root).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root directory (holds package.json, proto/, build/). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
