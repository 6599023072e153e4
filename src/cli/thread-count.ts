// thread-count.ts — resolves a thread-count flag that takes a number or 'auto'
// (--rx-threads, --tx-threads): 'auto' is one thread per core the process may use,
// at most `limit`.
import { availableParallelism } from 'node:os';

export function resolveThreadCount(value: number | 'auto', limit: number, cores: number = availableParallelism()): number {
  return value === 'auto' ? Math.max(1, Math.min(cores, limit)) : value;
}
