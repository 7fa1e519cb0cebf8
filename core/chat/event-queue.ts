/** Events from the turn to its reader, in order; the reader sees the turn's error after the events before it. */
export class EventQueue<T> {
  private readonly items: T[] = [];
  private done = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  end(error?: Error): void {
    this.done = true;
    this.error = error;
    this.wake?.();
  }

  async *iterate(): AsyncGenerator<T> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.done) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}
