import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanSpaces } from "../../../core/tokenizer/clean-spaces.ts";
import { Detokenizer, type PieceSource } from "../../../core/tokenizer/streaming.ts";

const PIECES = [" ", "'", "r", "e", "s", "?", "a", "\n", "l", "v", ".", "é"].map((p) => new Uint8Array(Buffer.from(p)));
const source: PieceSource = { piece: (id) => PIECES[id]!, removeLeadingSpace: false, cleanSpaces: true };

function cleaned(s: string): string {
  const b = new Uint8Array(Buffer.from(s));
  return Buffer.from(b.subarray(0, cleanSpaces(b, b.length))).toString();
}

test("space clean-up matches llama.cpp's passes", () => {
  assert.equal(cleaned("Hello , world ! Is it ?"), "Hello, world! Is it?");
  assert.equal(cleaned("a ' b"), "a'b");
  assert.equal(cleaned("it 's I 'm we 're they 've"), "it's I'm we're they've");
  assert.equal(cleaned("don 't I 'd we 'll"), "don 't I 'd we 'll");
});

test("streaming clean-up equals whole clean-up for every sequence of up to 5 tricky pieces", () => {
  const n = PIECES.length;
  for (let len = 1; len <= 5; len++) {
    for (let code = 0; code < n ** len; code++) {
      const ids: number[] = [];
      for (let c = code, i = 0; i < len; i++, c = Math.floor(c / n)) ids.push(c % n);
      const d = new Detokenizer(source, false);
      let out = "";
      for (const id of ids) out += d.push(id);
      out += d.flush();
      const whole = cleaned(ids.map((id) => Buffer.from(PIECES[id]!).toString()).join(""));
      assert.equal(out, whole, JSON.stringify(ids.map((id) => Buffer.from(PIECES[id]!).toString())));
    }
  }
});
