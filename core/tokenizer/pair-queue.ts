/**
 * Binary min-heap of candidate merges (left symbol, right symbol, priority, merged length) kept in typed arrays so
 * the merge loops allocate nothing per candidate. Lower priority pops first; ties pop the leftmost pair first,
 * which is the order llama.cpp's std::priority_queue comparators produce for both SPM (priority = -score) and
 * BPE (priority = merge rank).
 */
export class PairQueue {
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private priority = new Float64Array(64);
  private size = new Int32Array(64);
  private n = 0;
  /** Fields of the entry taken by the last pop(). */
  popLeft = 0;
  popRight = 0;
  popSize = 0;

  get length(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  push(left: number, right: number, priority: number, size: number): void {
    if (this.n === this.left.length) this.grow();
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(priority, left, this.priority[parent]!, this.left[parent]!)) break;
      this.move(parent, i);
      i = parent;
    }
    this.set(i, left, right, priority, size);
  }

  /** Removes the best entry into popLeft/popRight/popSize; the queue must not be empty. */
  pop(): void {
    this.popLeft = this.left[0]!;
    this.popRight = this.right[0]!;
    this.popSize = this.size[0]!;
    const last = --this.n;
    if (last === 0) return;
    const l = this.left[last]!, r = this.right[last]!, p = this.priority[last]!, s = this.size[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.before(this.priority[child + 1]!, this.left[child + 1]!, this.priority[child]!, this.left[child]!)) child++;
      if (!this.before(this.priority[child]!, this.left[child]!, p, l)) break;
      this.move(child, i);
      i = child;
    }
    this.set(i, l, r, p, s);
  }

  private before(pa: number, la: number, pb: number, lb: number): boolean {
    return pa < pb || (pa === pb && la < lb);
  }

  private move(from: number, to: number): void {
    this.set(to, this.left[from]!, this.right[from]!, this.priority[from]!, this.size[from]!);
  }

  private set(i: number, left: number, right: number, priority: number, size: number): void {
    this.left[i] = left;
    this.right[i] = right;
    this.priority[i] = priority;
    this.size[i] = size;
  }

  private grow(): void {
    const cap = this.left.length * 2;
    const l = new Int32Array(cap), r = new Int32Array(cap), p = new Float64Array(cap), s = new Int32Array(cap);
    l.set(this.left); r.set(this.right); p.set(this.priority); s.set(this.size);
    this.left = l; this.right = r; this.priority = p; this.size = s;
  }
}
