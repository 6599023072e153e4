// paths.ts — where the package's own files live (dist/ and src/ are both two levels deep).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root directory (holds package.json, proto/, build/). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
