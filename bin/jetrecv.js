#!/usr/bin/env node
// Entry point of the jetrecv command; the CLI lives in dist/cli (built from src/cli).
import { main } from '../dist/cli/main.js';
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`jetrecv: ${err?.message ?? err}`);
    process.exitCode = 1;
  },
);
