import { register } from "node:module";
import { fromSources, publicApiUrl } from "../core/package.ts";

/**
 * Lets this process import recipes from any folder: TypeScript through tsx's loader (the built CLI is plain
 * JavaScript; from the sources, bin/infer-repl.mjs has registered it already), and `import ... from "infer-repl"`
 * resolved to this running copy of infer-repl, so a recipe needs no node_modules of its own and shares the CLI's
 * engine code. The resolve hook is a data: URL module: it has no file to be found from the sources or the build.
 */
export async function enableRecipeImports(): Promise<void> {
  if (!fromSources) (await import("tsx/esm/api")).register();
  register(`data:text/javascript,${encodeURIComponent(selfResolveHook(publicApiUrl))}`);
}

function selfResolveHook(url: string): string {
  return `export async function resolve(specifier, context, next) {
  return specifier === "infer-repl" ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(specifier, context);
}
export async function load(url, context, next) {
  return /\\.ts$/.test(url) && !url.includes("/node_modules/") ? next(url, { ...context, format: "module" }) : next(url, context);
}`;
}
