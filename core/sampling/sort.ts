/**
 * In-place sort of ids[from..to) ascending by key[id] (a token-indexed Float32Array): quicksort with median-of-three
 * and insertion sort for short runs. Written out instead of Int32Array.prototype.sort(comparator) so sorting
 * allocates nothing and needs no per-call closure. Not stable.
 */
export function sortIdsByKey(ids: Int32Array, from: number, to: number, key: Float32Array): void {
  sortRange(ids, from, to - 1, key);
}

function sortRange(ids: Int32Array, lo: number, hi: number, key: Float32Array): void {
  // Recurse into the smaller side and loop on the larger one: stack depth stays O(log n).
  while (hi - lo > 16) {
    const p = partition(ids, lo, hi, key);
    if (p - lo < hi - p) {
      sortRange(ids, lo, p - 1, key);
      lo = p + 1;
    } else {
      sortRange(ids, p + 1, hi, key);
      hi = p - 1;
    }
  }
  insertionSort(ids, lo, hi, key);
}

function partition(ids: Int32Array, lo: number, hi: number, key: Float32Array): number {
  const mid = (lo + hi) >>> 1;
  if (key[ids[mid]] < key[ids[lo]]) swap(ids, mid, lo);
  if (key[ids[hi]] < key[ids[lo]]) swap(ids, hi, lo);
  if (key[ids[hi]] < key[ids[mid]]) swap(ids, hi, mid);
  swap(ids, mid, hi - 1); // pivot parked at hi - 1; ids[lo] <= pivot <= ids[hi] act as sentinels
  const pivot = key[ids[hi - 1]];
  let i = lo;
  let j = hi - 1;
  for (;;) {
    while (key[ids[++i]] < pivot);
    while (pivot < key[ids[--j]]);
    if (i >= j) break;
    swap(ids, i, j);
  }
  swap(ids, i, hi - 1);
  return i;
}

function insertionSort(ids: Int32Array, lo: number, hi: number, key: Float32Array): void {
  for (let i = lo + 1; i <= hi; i++) {
    const id = ids[i];
    const k = key[id];
    let j = i - 1;
    while (j >= lo && key[ids[j]] > k) {
      ids[j + 1] = ids[j];
      j--;
    }
    ids[j + 1] = id;
  }
}

function swap(ids: Int32Array, a: number, b: number): void {
  const t = ids[a];
  ids[a] = ids[b];
  ids[b] = t;
}
