// open-gate.ts — at most N native transfer opens at a time. Each open occupies a libuv
// thread-pool thread (4 by default, shared with fs I/O, checkpoints and record writes) for
// as long as creating its partial files takes: minutes for a huge manifest. The gate keeps
// the rest of the pool free for those, and later opens wait their turn in arrival order.
export class OpenGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next)
        next(); // the slot passes on
      else this.running--;
    }
  }
}
