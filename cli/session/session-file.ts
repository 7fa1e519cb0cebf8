import { readFileSync } from "node:fs";
import { Packr } from "msgpackr";
import { z } from "zod";
import { writeFileAtomic } from "../../core/fs/write-file-atomic.ts";

/**
 * The REPL notebook on disk (:save / :open): a msgpack map tagged with a magic string and a format version,
 * so that a foreign, corrupt or newer file is refused with a message instead of being half-loaded.
 */
export const SESSION_MAGIC = "infer-repl-session";
export const SESSION_VERSION = 1;

/** A configuration value as `:set` can hold it; undefined (an unset option) survives the round trip too. */
export type ConfigValue = string | number | boolean | null | undefined | ConfigValue[] | { [key: string]: ConfigValue };

export interface SessionCell {
  readonly prompt: string;
  readonly output: string;
  /** A chat turn's thinking, kept apart from its answer (the output). */
  readonly thinking?: string;
  readonly stats: Readonly<Record<string, number>>;
}

export interface Session {
  /** The model the cells were produced with; null before one is loaded. */
  readonly model: { readonly path: string; readonly sha256?: string } | null;
  readonly config: Readonly<Record<string, ConfigValue>>;
  readonly cells: readonly SessionCell[];
  /** ISO 8601 time the session was started. */
  readonly createdAt: string;
  /** Chat mode's conversation (core's SavedChat, checked when it is restored). */
  readonly chat?: Readonly<Record<string, ConfigValue>>;
}

/** Session file that cannot be read or written; the CLI reports it as bad input (exit code 2). */
export class SessionError extends Error {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
    this.name = "SessionError";
  }
}

// Any number, NaN and ±Infinity included: stats such as tokens/s can be those, and msgpack keeps them exactly.
const anyNumber = z.custom<number>((v) => typeof v === "number", "expected a number");
const configValue: z.ZodType<ConfigValue> = z.lazy(() =>
  z.union([z.string(), anyNumber, z.boolean(), z.null(), z.undefined(), z.array(configValue), z.record(z.string(), configValue)]));
const sessionSchema = z.strictObject({
  model: z.strictObject({ path: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/).optional() }).nullable(),
  config: z.record(z.string(), configValue),
  cells: z.array(z.strictObject({ prompt: z.string(), output: z.string(), thinking: z.string().optional(), stats: z.record(z.string(), anyNumber) })),
  createdAt: z.iso.datetime(),
  chat: z.record(z.string(), configValue).optional(),
});

// Plain msgpack maps (no msgpackr record extension), so other msgpack readers can open the file too.
const packr = new Packr({ useRecords: false });

export function saveSession(path: string, session: Session): void {
  const checked = sessionSchema.safeParse(session);
  if (!checked.success) throw new SessionError(path, `cannot save this session: ${describe(checked.error)}`);
  try {
    writeFileAtomic(path, packr.pack({ magic: SESSION_MAGIC, version: SESSION_VERSION, ...checked.data }));
  } catch (e) {
    throw new SessionError(path, `cannot write: ${(e as Error).message}`);
  }
}

export function loadSession(path: string): Session {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new SessionError(path, err.code === "ENOENT" ? "no such file" : `cannot read: ${err.message}`);
  }
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch {
    throw new SessionError(path, "not an infer-repl session file, or a corrupt or truncated one (it is not valid msgpack)");
  }
  if (typeof decoded !== "object" || decoded === null || (decoded as { magic?: unknown }).magic !== SESSION_MAGIC) {
    throw new SessionError(path, "not an infer-repl session file (no infer-repl-session marker)");
  }
  const { magic: _magic, version, ...rest } = decoded as Record<string, unknown>;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new SessionError(path, `corrupt session file: bad format version ${String(version)}`);
  }
  if (version > SESSION_VERSION) {
    throw new SessionError(path, `written by a newer infer-repl (session format ${version}; this version reads format ${SESSION_VERSION})`);
  }
  const checked = sessionSchema.safeParse(rest);
  if (!checked.success) throw new SessionError(path, `corrupt session file: ${describe(checked.error)}`);
  return checked.data;
}

/** The first few problems, each with where it is ("cells.2.prompt: expected string"). */
function describe(error: z.ZodError): string {
  const issues = error.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`);
  return issues.join("; ") + (error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : "");
}
