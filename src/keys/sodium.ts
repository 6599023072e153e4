// sodium.ts — the one place that initialises libsodium-wrappers.
// Importing this module waits (top-level await) until libsodium is ready, so every importer
// may call sodium functions synchronously.
import sodiumModule from 'libsodium-wrappers';

await sodiumModule.ready;

/** The initialised libsodium-wrappers instance. */
export const sodium = sodiumModule;
