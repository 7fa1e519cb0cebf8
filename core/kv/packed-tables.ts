/**
 * The block tables of a step's sequences laid end to end, as the native step reads them: sequence s owns
 * `flat[offsets[s] .. offsets[s + 1])`. Callers that build a step every token pass buffers they reuse (at least
 * `packedLength(tables)` and `tables.length + 1` long); others let this allocate.
 */
export function packTables(
  tables: readonly (readonly number[])[],
  flat = new Int32Array(packedLength(tables)),
  offsets = new Int32Array(tables.length + 1),
): { flat: Int32Array; offsets: Int32Array } {
  let end = 0;
  tables.forEach((table, s) => {
    offsets[s] = end;
    flat.set(table, end);
    end += table.length;
  });
  offsets[tables.length] = end;
  return { flat: flat.subarray(0, end), offsets: offsets.subarray(0, tables.length + 1) };
}

export function packedLength(tables: readonly (readonly number[])[]): number {
  let n = 0;
  for (const table of tables) n += table.length;
  return n;
}
