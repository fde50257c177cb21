/**
 * Many generate calls may run together; a weight sync runs alone. The sync waits for running
 * generation to drain and holds new calls back until it is done, so no request is served by a
 * half-loaded model and no completion straddles two checkpoints.
 */
export class ReadWriteGate {
  private readers = 0;
  private writer: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      if (this.readers === 0) this.drained?.();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.writer) await this.writer;
    let release!: () => void;
    this.writer = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      while (this.readers > 0) {
        await new Promise<void>((resolve) => {
          this.drained = resolve;
        });
      }
      this.drained = null;
      return await fn();
    } finally {
      this.writer = null;
      release();
    }
  }

  get activeReaders(): number {
    return this.readers;
  }
}
