import { SchemaError } from "./errors.ts";
import { gbnfClassChar, gbnfLiteral, intRangeGbnf, jsonCharLiteral, mustEscape } from "./gbnf-text.ts";
import { patternToGbnf, JSON_CHAR } from "./json-pattern.ts";

/**
 * JSON Schema -> GBNF whose every output is JSON valid against the schema. Supported: type (and lists of types),
 * enum, const, properties/required/additionalProperties, items/prefixItems/minItems/maxItems, minLength/
 * maxLength, pattern (JS regular expressions without lookaround or backreferences), format (date, time,
 * date-time, uuid, email, ipv4), minimum/maximum/exclusive* on integers and numbers, $ref into $defs/definitions
 * (recursion included), anyOf/oneOf/allOf. Annotations (title, description, default, examples ...) are ignored.
 * Any other keyword throws SchemaError naming it and where it is, never silently ignored.
 *
 * Where a keyword's exact language is larger than a grammar can cheaply say, the grammar takes a subset whose
 * every member is valid (bounded numbers get an integer part in range and a fraction only where any fraction
 * stays in range; dates never fall on February 29th). Objects carry only the properties the schema names
 * unless additionalProperties says otherwise, in schema order. oneOf is written as anyOf: branches must not
 * overlap (discriminate them with const/enum), since an output matching two branches fails oneOf.
 */
export function jsonSchemaToGbnf(schema: unknown): string {
  return new SchemaConverter(schema).convert();
}

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(["$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"]);
const KEYWORDS = new Set([
  "type", "enum", "const", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
  "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "$ref",
  "anyOf", "oneOf", "allOf", "uniqueItems",
]);
const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"] as const;
type JsonType = (typeof TYPES)[number];
const STRING_KEYS = ["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];
const OBJECT_KEYS = ["properties", "required", "additionalProperties"];
const ARRAY_KEYS = ["items", "prefixItems", "minItems", "maxItems"];

const HEX = "[0-9a-fA-F]";
/** Shared rules, added when first used. */
const PRIMITIVES: Record<string, string> = {
  space: '" "?',
  boolean: '("true" | "false") space',
  null: '"null" space',
  "integral-part": "[0] | [1-9] [0-9]{0,15}",
  integer: '("-"? integral-part) space',
  number: '("-"? integral-part) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})? space',
  // A JSON string character: no \u escape of a surrogate, so a string's length is its code points either way.
  char: JSON_CHAR,
  string: '"\\"" char* "\\"" space',
  value: "object | array | string | number | boolean | null",
  object: '"{" space ( string ":" space value ("," space string ":" space value)* )? "}" space',
  array: '"[" space ( value ("," space value)* )? "]" space',
};
const PRIMITIVE_DEPS: Record<string, string[]> = {
  boolean: ["space"], null: ["space"], integer: ["integral-part", "space"], number: ["integral-part", "space"],
  string: ["char", "space"], value: ["object", "array", "string", "number", "boolean", "null"],
  object: ["string", "value", "space"], array: ["value", "space"],
};

const FORMATS: Record<string, string> = {
  // Months with their day counts; February stops at 28 so every date exists.
  date: '[0-9]{4} "-" ( ("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02" "-" ("0" [1-9] | "1" [0-9] | "2" [0-8]) )',
  time: '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
  "date-time": 'format-date "T" ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] "Z"',
  // Version 1-8 and the RFC 4122 variant, as strict validators (zod's) want.
  uuid: `${HEX}{8} "-" ${HEX}{4} "-" [1-8] ${HEX}{3} "-" [89ab] ${HEX}{3} "-" ${HEX}{12}`,
  email: '[a-zA-Z0-9_+-]+ "@" ([a-zA-Z0-9]+ ".")+ [a-zA-Z]{2,6}',
  ipv4: 'format-octet "." format-octet "." format-octet "." format-octet',
};
const FORMAT_HELPERS: Record<string, string> = {
  "format-date": FORMATS.date!,
  "format-octet": '"25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9]',
};

class SchemaConverter {
  private readonly rules = new Map<string, string>();
  private readonly refRules = new Map<string, string>();

  constructor(private readonly root: unknown) {}

  convert(): string {
    const body = this.expr(this.root, "schema", "#");
    this.rules.set("root", body);
    const order = ["root", ...[...this.rules.keys()].filter((k) => k !== "root")];
    return order.map((name) => `${name} ::= ${this.rules.get(name)}`).join("\n") + "\n";
  }

  /** Adds a rule (reusing one with the same body) and returns its name. */
  private rule(name: string, body: string): string {
    for (const [k, v] of this.rules) if (v === body && body !== "" && !(k in PRIMITIVES)) return k;
    const n = this.freshName(name);
    this.rules.set(n, body);
    return n;
  }

  private freshName(name: string): string {
    const base = name.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "") || "r";
    let n = base, i = 1;
    while (this.rules.has(n) || n in PRIMITIVES || n in FORMAT_HELPERS) n = `${base}-${i++}`;
    return n;
  }

  private primitive(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name] ?? FORMAT_HELPERS[name]!);
      for (const dep of PRIMITIVE_DEPS[name] ?? []) this.primitive(dep);
    }
    return name;
  }

  /** A grammar expression for values valid against `schema` (at JSON pointer `at`). */
  private expr(schema: unknown, name: string, at: string): string {
    if (schema === true) return this.primitive("value");
    if (schema === false) throw new SchemaError(`${at}: the schema false allows no value`);
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new SchemaError(`${at}: a schema must be an object or a boolean, got ${JSON.stringify(schema)}`);
    const s = schema as Schema;
    for (const key of Object.keys(s)) {
      if (ANNOTATIONS.has(key)) continue;
      if (!KEYWORDS.has(key)) throw new SchemaError(`${at}: keyword "${key}" cannot be enforced by a grammar`);
    }
    if (s.uniqueItems === true) throw new SchemaError(`${at}: keyword "uniqueItems" cannot be enforced by a grammar`);
    if (s.$ref !== undefined) return this.ref(s, at);
    if (s.allOf !== undefined) return this.expr(this.mergeAll(s, at), name, at);
    for (const key of ["anyOf", "oneOf"] as const) {
      if (s[key] === undefined) continue;
      const branches = this.list(s[key], key, at);
      const { [key]: _, ...siblings } = s;
      const own = structural(siblings);
      const alts = branches.map((b, i) => this.expr(own ? merge(siblings, asSchema(b, `${at}/${key}/${i}`), `${at}/${key}/${i}`) : b, `${name}-${i}`, `${at}/${key}/${i}`));
      return alts.length === 1 ? alts[0]! : `(${alts.join(" | ")})`;
    }
    if (s.const !== undefined) return `${gbnfLiteral(JSON.stringify(s.const))} ${this.primitive("space")}`;
    if (s.enum !== undefined) {
      const values = this.list(s.enum, "enum", at);
      return `(${values.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")}) ${this.primitive("space")}`;
    }
    const types = this.types(s, at);
    const alts = types.map((t) => this.typed(s, t, types.length > 1 ? `${name}-${t}` : name, at));
    return alts.length === 1 ? alts[0]! : `(${alts.join(" | ")})`;
  }

  private list(v: unknown, key: string, at: string): unknown[] {
    if (!Array.isArray(v) || v.length === 0) throw new SchemaError(`${at}: "${key}" must be a non-empty array`);
    return v;
  }

  /** The types a schema allows: its `type`, or the kind its keywords imply, or any. */
  private types(s: Schema, at: string): JsonType[] {
    if (s.type !== undefined) {
      const list = Array.isArray(s.type) ? s.type : [s.type];
      for (const t of list) if (!TYPES.includes(t as JsonType)) throw new SchemaError(`${at}: unknown type ${JSON.stringify(t)}`);
      if (list.length === 0) throw new SchemaError(`${at}: "type" is an empty list`);
      return list as JsonType[];
    }
    const implied: JsonType[] = [];
    if (OBJECT_KEYS.some((k) => k in s)) implied.push("object");
    if (ARRAY_KEYS.some((k) => k in s)) implied.push("array");
    if (STRING_KEYS.some((k) => k in s)) implied.push("string");
    if (NUMBER_KEYS.some((k) => k in s)) implied.push("number");
    return implied.length > 0 ? implied : [...TYPES.filter((t) => t !== "integer")];
  }

  private typed(s: Schema, type: JsonType, name: string, at: string): string {
    switch (type) {
      case "boolean": return this.primitive("boolean");
      case "null": return this.primitive("null");
      case "string": return this.string(s, name, at);
      case "integer": return this.integer(s, name, at);
      case "number": return this.number(s, name, at);
      case "object": return this.object(s, name, at);
      case "array": return this.array(s, name, at);
    }
  }

  private ref(s: Schema, at: string): string {
    const ref = s.$ref;
    if (typeof ref !== "string") throw new SchemaError(`${at}: "$ref" must be a string`);
    if (structural(s, ["$ref"])) throw new SchemaError(`${at}: "$ref" beside other keywords cannot be enforced (move them into the referenced schema or an allOf)`);
    const known = this.refRules.get(ref);
    if (known) return known;
    const target = this.resolve(ref, at);
    const name = this.freshName(`ref-${ref.split("/").pop()}`);
    this.rules.set(name, "");
    this.refRules.set(ref, name); // before visiting: recursive schemas refer to themselves
    this.rules.set(name, this.expr(target, name, ref));
    return name;
  }

  private resolve(ref: string, at: string): unknown {
    if (!ref.startsWith("#")) throw new SchemaError(`${at}: "$ref" ${ref} is not a local reference (only #/... is supported)`);
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split("/").slice(1)) {
      const part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (typeof node !== "object" || node === null || !(part in node)) throw new SchemaError(`${at}: "$ref" ${ref} does not resolve`);
      node = (node as Schema)[part];
    }
    return node;
  }

  private mergeAll(s: Schema, at: string): Schema {
    const parts = this.list(s.allOf, "allOf", at);
    const { allOf: _, ...rest } = s;
    let merged: Schema = rest;
    parts.forEach((p, i) => {
      let part = asSchema(p, `${at}/allOf/${i}`);
      if (part.$ref !== undefined) part = asSchema(this.resolve(part.$ref as string, at), `${at}/allOf/${i}`);
      merged = merge(merged, part, `${at}/allOf/${i}`);
    });
    return merged;
  }

  private string(s: Schema, name: string, at: string): string {
    const min = this.count(s, "minLength", at) ?? 0;
    const max = this.count(s, "maxLength", at);
    if (max !== undefined && max < min) throw new SchemaError(`${at}: maxLength ${max} is below minLength ${min}`);
    const quote = '"\\""';
    const space = this.primitive("space");
    if (s.format !== undefined) {
      if (s.pattern !== undefined || s.minLength !== undefined || s.maxLength !== undefined) {
        throw new SchemaError(`${at}: "format" together with pattern/minLength/maxLength cannot be enforced`);
      }
      const f = s.format;
      if (typeof f !== "string" || !(f in FORMATS)) throw new SchemaError(`${at}: format ${JSON.stringify(f)} cannot be enforced (supported: ${Object.keys(FORMATS).join(", ")})`);
      for (const helper of Object.keys(FORMAT_HELPERS)) if (FORMATS[f]!.includes(helper)) this.primitive(helper);
      return this.rule(`${name}-${f}`, `${quote} (${FORMATS[f]}) ${quote} ${space}`);
    }
    if (s.pattern !== undefined) {
      if (s.minLength !== undefined || s.maxLength !== undefined) throw new SchemaError(`${at}: "pattern" together with minLength/maxLength cannot be enforced`);
      if (typeof s.pattern !== "string") throw new SchemaError(`${at}: "pattern" must be a string`);
      this.primitive("char");
      return this.rule(`${name}-pattern`, `${quote} (${patternToGbnf(s.pattern, `${at}/pattern`)}) ${quote} ${space}`);
    }
    if (min === 0 && max === undefined) return this.primitive("string");
    this.primitive("char");
    return this.rule(name, `${quote} char{${min},${max ?? ""}} ${quote} ${space}`);
  }

  private count(s: Schema, key: string, at: string): number | undefined {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new SchemaError(`${at}: "${key}" must be a non-negative integer`);
    if (v > 2000) throw new SchemaError(`${at}: "${key}" ${v} is above the 2000 a grammar can repeat`);
    return v;
  }

  private bounds(s: Schema, at: string): { lo: number; hi: number; loExcl: boolean; hiExcl: boolean } | undefined {
    if (!NUMBER_KEYS.some((k) => s[k] !== undefined)) return undefined;
    for (const k of NUMBER_KEYS) if (s[k] !== undefined && (typeof s[k] !== "number" || !Number.isFinite(s[k]))) throw new SchemaError(`${at}: "${k}" must be a finite number`);
    let lo = -Infinity, hi = Infinity, loExcl = false, hiExcl = false;
    if (typeof s.minimum === "number") lo = s.minimum;
    if (typeof s.exclusiveMinimum === "number" && s.exclusiveMinimum >= lo) [lo, loExcl] = [s.exclusiveMinimum, true];
    if (typeof s.maximum === "number") hi = s.maximum;
    if (typeof s.exclusiveMaximum === "number" && s.exclusiveMaximum <= hi) [hi, hiExcl] = [s.exclusiveMaximum, true];
    return { lo, hi, loExcl, hiExcl };
  }

  private integer(s: Schema, name: string, at: string): string {
    const b = this.bounds(s, at);
    if (!b) return this.primitive("integer");
    const lo = b.loExcl ? Math.floor(b.lo) + 1 : Math.ceil(b.lo);
    const hi = b.hiExcl ? Math.ceil(b.hi) - 1 : Math.floor(b.hi);
    if (lo > hi) throw new SchemaError(`${at}: no integer lies within its minimum/maximum`);
    return this.rule(name, `(${intRangeGbnf(lo, hi)}) ${this.primitive("space")}`);
  }

  /** Bounded numbers: integers in range, and fractions k.ddd where every fraction of k stays in range. */
  private number(s: Schema, name: string, at: string): string {
    const b = this.bounds(s, at);
    if (!b) return this.primitive("number");
    const alts: string[] = [];
    const lo = b.loExcl ? Math.floor(b.lo) + 1 : Math.ceil(b.lo);
    const hi = b.hiExcl ? Math.ceil(b.hi) - 1 : Math.floor(b.hi);
    if (lo <= hi) alts.push(intRangeGbnf(lo, hi));
    const fraction = '"." [0-9]{1,6}';
    // k.ddd lies in [k, k + 1): k >= lo and k + 1 <= hi.
    const posLo = Math.max(lo, 0), posHi = Number.isFinite(b.hi) ? Math.floor(b.hi) - 1 : Infinity;
    if (posLo <= posHi) alts.push(`(${intRangeGbnf(posLo, posHi)}) ${fraction}`);
    // -k.ddd lies in (-(k + 1), -k]: -(k + 1) >= lo and -k below hi (or equal, when inclusive).
    const negLo = Math.max(1, b.hiExcl ? Math.floor(-b.hi) + 1 : Math.ceil(-b.hi));
    const negHi = Number.isFinite(b.lo) ? Math.floor(-b.lo) - 1 : Infinity;
    if (negLo <= negHi) alts.push(`"-" (${intRangeGbnf(negLo, negHi)}) ${fraction}`);
    if (alts.length === 0) throw new SchemaError(`${at}: no number this grammar can write lies within its minimum/maximum`);
    return this.rule(name, `(${alts.map((a) => `(${a})`).join(" | ")}) ${this.primitive("space")}`);
  }

  private object(s: Schema, name: string, at: string): string {
    const props = s.properties ?? {};
    if (typeof props !== "object" || props === null || Array.isArray(props)) throw new SchemaError(`${at}: "properties" must be an object`);
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== "string")) throw new SchemaError(`${at}: "required" must be an array of strings`);
    const additional = s.additionalProperties;
    if (additional !== undefined && typeof additional !== "boolean" && (typeof additional !== "object" || additional === null)) {
      throw new SchemaError(`${at}: "additionalProperties" must be a boolean or a schema`);
    }
    const space = this.primitive("space");
    const entries = Object.entries(props as Schema);
    for (const r of required as string[]) {
      if (!(r in (props as Schema))) {
        if (additional === false) throw new SchemaError(`${at}: required property "${r}" is not in "properties" and additionalProperties is false`);
        entries.push([r, additional ?? true]);
      }
    }
    const kv = (key: string, value: unknown) =>
      this.rule(`${name}-${key}-kv`, `${gbnfLiteral(JSON.stringify(key))} ${space} ":" ${space} ${this.expr(value, `${name}-${key}`, `${at}/properties/${key}`)}`);
    const req = entries.filter(([k]) => (required as string[]).includes(k)).map(([k, v]) => kv(k, v));
    const opt = entries.filter(([k]) => !(required as string[]).includes(k)).map(([k, v]) => kv(k, v));
    if (additional !== undefined && additional !== false) {
      const extraKey = entries.length > 0 ? this.notStrings(entries.map(([k]) => k), `${name}-extra-key`) : this.primitive("string");
      const value = this.expr(additional, `${name}-extra`, `${at}/additionalProperties`);
      const extra = this.rule(`${name}-extra-kv`, `${extraKey} ":" ${space} ${value}`);
      opt.push(this.rule(`${name}-extras`, `${extra} ("," ${space} ${extra})*`));
    }
    // Required properties in order, then each optional one present or not, commas between those present.
    let body: string;
    if (req.length > 0) {
      body = req.join(` "," ${space} `) + opt.map((o) => ` ("," ${space} ${o})?`).join("");
    } else if (opt.length > 0) {
      // The first present optional property has no comma before it.
      const tails: string[] = [];
      for (let i = opt.length - 1; i >= 1; i--) {
        const rest = tails.length > 0 ? ` ${tails[tails.length - 1]}` : "";
        tails.push(this.rule(`${name}-tail-${i}`, `("," ${space} ${opt[i]})?${rest}`));
      }
      tails.reverse(); // tails[i - 1]: optional properties i.. each with a comma
      body = `(${opt.map((o, i) => (i + 1 < opt.length ? `${o} ${tails[i]}` : o)).join(" | ")})?`;
    } else body = "";
    return this.rule(name, `"{" ${space} ${body} "}" ${space}`.replace(/\s+/g, " "));
  }

  /** A JSON string that is none of `keys` (additional property names). */
  private notStrings(keys: string[], name: string): string {
    interface Node { children: Map<number, Node>; end: boolean }
    const root: Node = { children: new Map(), end: false };
    for (const k of keys) {
      let n = root;
      for (const c of Array.from(k, (x) => x.codePointAt(0)!)) {
        if (!n.children.has(c)) n.children.set(c, { children: new Map(), end: false });
        n = n.children.get(c)!;
      }
      n.end = true;
    }
    const char = this.primitive("char");
    let count = 0;
    const visit = (n: Node): string => {
      const alts: string[] = [];
      if (!n.end) alts.push('"\\""');
      const excluded: number[] = [];
      for (const [c, child] of n.children) {
        excluded.push(c);
        alts.push(`${jsonCharLiteral(c)} ${visit(child)}`);
      }
      alts.push(`${jsonCharExcept(excluded)} ${char}* "\\""`);
      return this.rule(`${name}-${count++}`, alts.join(" | "));
    };
    return this.rule(name, `"\\"" ${visit(root)} ${this.primitive("space")}`);
  }

  private array(s: Schema, name: string, at: string): string {
    const prefix = s.prefixItems === undefined ? [] : this.list(s.prefixItems, "prefixItems", at);
    const items = s.items;
    if (Array.isArray(items)) throw new SchemaError(`${at}: "items" as an array is draft-07 tuple syntax; use "prefixItems"`);
    const min = this.count(s, "minItems", at) ?? 0;
    const maxItems = this.count(s, "maxItems", at);
    const cap = items === false ? Math.min(prefix.length, maxItems ?? Infinity) : maxItems ?? Infinity;
    if (min > cap) throw new SchemaError(`${at}: minItems ${min} cannot be met (at most ${cap} items)`);
    const space = this.primitive("space");
    const itemRule = items === false ? "" : this.expr(items ?? true, `${name}-item`, `${at}/items`);
    const el = (i: number) => (i < prefix.length ? this.expr(prefix[i], `${name}-${i}`, `${at}/prefixItems/${i}`) : itemRule);
    const sep = `"," ${space}`;
    // Elements from index i on, each after a comma: prefix positions one by one, then the item schema repeated.
    const tail = (i: number): string => {
      if (i >= cap) return "";
      if (i < prefix.length) {
        const one = `${sep} ${el(i)} ${tail(i + 1)}`.trim();
        return i < min ? one : `(${one})?`;
      }
      const need = Math.max(0, min - i);
      const more = cap === Infinity ? "*" : cap - i - need > 0 ? `{0,${cap - i - need}}` : "";
      return `${need > 0 ? `(${sep} ${itemRule}){${need}}` : ""} ${more ? `(${sep} ${itemRule})${more}` : ""}`.trim();
    };
    let body = "";
    if (cap > 0) {
      const head = `${el(0)} ${tail(1)}`.trim();
      body = min > 0 ? head : `(${head})?`;
    }
    return this.rule(name, `"[" ${space} ${body} "]" ${space}`.replace(/\s+/g, " "));
  }
}

function asSchema(v: unknown, at: string): Schema {
  if (v === true) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new SchemaError(`${at}: expected a schema object`);
  return v as Schema;
}

/** Whether a schema has keywords beyond annotations (and those in `ignore`). */
function structural(s: Schema, ignore: string[] = []): boolean {
  return Object.keys(s).some((k) => !ANNOTATIONS.has(k) && !ignore.includes(k));
}

/** Both schemas at once (allOf, or anyOf branches with shared siblings), where that is a plain merge. */
function merge(a: Schema, b: Schema, at: string): Schema {
  const out: Schema = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (ANNOTATIONS.has(k) || out[k] === undefined) {
      if (!ANNOTATIONS.has(k) || out[k] === undefined) out[k] = v;
      continue;
    }
    if (k === "properties") {
      const props = { ...(out.properties as Schema) };
      for (const [p, ps] of Object.entries(v as Schema)) {
        if (props[p] !== undefined && JSON.stringify(props[p]) !== JSON.stringify(ps)) throw new SchemaError(`${at}: property "${p}" is defined differently in schemas that must all hold`);
        props[p] = ps;
      }
      out.properties = props;
    } else if (k === "required") {
      out.required = [...new Set([...(out.required as string[]), ...(v as string[])])];
    } else if (k === "type") {
      const ta = Array.isArray(out.type) ? out.type : [out.type];
      const tb = Array.isArray(v) ? v : [v];
      const both = ta.filter((t) => tb.includes(t) || (t === "integer" && tb.includes("number"))).concat(tb.filter((t) => t === "integer" && ta.includes("number")));
      if (both.length === 0) throw new SchemaError(`${at}: types ${JSON.stringify(ta)} and ${JSON.stringify(tb)} have no value in common`);
      out.type = [...new Set(both)];
    } else if (JSON.stringify(out[k]) !== JSON.stringify(v)) {
      throw new SchemaError(`${at}: "${k}" is given differently in schemas that must all hold; cannot combine them`);
    }
  }
  return out;
}

/** One JSON string character (unescaped) other than the quote, backslash, control characters and `except`. */
function jsonCharExcept(except: number[]): string {
  const esc = except.filter((c) => !mustEscape(c)).map((c) => gbnfClassChar(c)).join("");
  return `[^"\\\\\\x00-\\x1F${esc}]`;
}
