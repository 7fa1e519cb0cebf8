import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import { UsageError } from "../errors.ts";

/** `infer-repl run RECIPE.ts [TEXT...]`: the same as `tsx RECIPE.ts TEXT...` (prompt from TEXT, else stdin lines). */
export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run a recipe (same as `tsx RECIPE.ts TEXT`; without TEXT, each stdin line is a prompt)")
    .argument("<recipe>", "a recipe file (TypeScript, `export default defineRecipe(import.meta, {...})`)")
    .argument("[text...]", "the prompt")
    .action(async (file: string, text: string[]) => {
      const full = path.resolve(file);
      if (!existsSync(full)) throw new UsageError(`${file}: no such recipe file`);
      try {
        // A bad recipe throws RecipeError here, as it is imported.
        const [{ isRecipe }, { enableRecipeImports }] = await Promise.all([import("../../core/recipe.ts"), import("../recipe-imports.ts")]);
        await enableRecipeImports();
        const recipe = ((await import(pathToFileURL(full).href)) as { default?: unknown }).default;
        if (!isRecipe(recipe)) {
          throw new UsageError(`the default export is not a recipe (expected export default defineRecipe(import.meta, { ... }))`);
        }
        await recipe.main(text);
      } catch (e) {
        if (e instanceof Error && (e.name === "RecipeError" || e instanceof UsageError)) e.message = `${file}: ${e.message}`;
        throw e;
      }
    });
}
