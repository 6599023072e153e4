#!/usr/bin/env node
// clean-dist.mjs — removes dist/ before tsc writes it again: tsc never deletes the output
// of a source file that was moved or removed, and a stale dist/native/binding.js once let
// tests that named the old path pass on a dev tree while a fresh clone failed.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
