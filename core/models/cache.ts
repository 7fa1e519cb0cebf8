import { homedir } from "node:os";
import path from "node:path";

/**
 * Where downloaded and converted models live. `INFER_REPL_CACHE` overrides the platform convention:
 * Linux and other Unixes follow XDG ($XDG_CACHE_HOME, else ~/.cache), macOS uses ~/Library/Caches,
 * Windows uses %LOCALAPPDATA%.
 */
export function modelCacheDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  const p = platform === "win32" ? path.win32 : path.posix;
  const override = env.INFER_REPL_CACHE;
  if (override) return p.resolve(override);
  switch (platform) {
    case "win32":
      return p.join(env.LOCALAPPDATA || p.join(home, "AppData", "Local"), "infer-repl", "models");
    case "darwin":
      return p.join(home, "Library", "Caches", "infer-repl", "models");
    default: {
      // The XDG spec says relative values are invalid and must be ignored.
      const xdg = env.XDG_CACHE_HOME;
      const base = xdg && p.isAbsolute(xdg) ? xdg : p.join(home, ".cache");
      return p.join(base, "infer-repl", "models");
    }
  }
}

/** Extra read-only model folders from `INFER_REPL_MODELS` (a PATH-style list; CI points it at ../shared/models). */
export function extraModelDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.INFER_REPL_MODELS ?? "").split(path.delimiter).filter((d) => d !== "").map((d) => path.resolve(d));
}
