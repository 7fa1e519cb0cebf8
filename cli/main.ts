import { Command, CommanderError } from "commander";
import { packageVersion } from "../core/package.ts";
import { registerBench } from "./commands/bench.ts";
import { registerGenerate } from "./commands/generate.ts";
import { registerInfo } from "./commands/info.ts";
import { registerModelCommands } from "./commands/models.ts";
import { registerQuantize } from "./commands/quantize.ts";
import { registerPerplexity } from "./commands/perplexity.ts";
import { registerRun } from "./commands/run.ts";
import { llamaServerAliases, registerServe } from "./commands/serve.ts";
import type { PipeFlags } from "./commands/pipe.ts";
import { registerTokenize } from "./commands/tokenize.ts";
import { registerTune } from "./commands/tune.ts";
import { EXIT_BAD_INPUT, EXIT_OK, EXIT_RUNTIME, isBadInput } from "./errors.ts";
import { addEngineOptions, addGenerateOptions } from "./options.ts";

function buildProgram(): Command {
  const program = new Command("infer-repl")
    .description("Local LLM inference: a notebook REPL on a TTY, pipe mode when stdin is piped")
    .argument("[model]", "GGUF model file")
    .version(packageVersion(), "--version", "print the version and exit")
    .option("--jsonl", "pipe mode: one JSON object per prompt")
    .enablePositionalOptions() // -m after a subcommand belongs to the subcommand
    .exitOverride()
    // Commander's own messages ("error: unknown option ...") take the prefix of every other error; subcommands
    // inherit this when they are created below.
    .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, "infer-repl: ")) });
  addGenerateOptions(addEngineOptions(program));
  program.action(async (model: string | undefined, flags: PipeFlags) => {
    if (process.stdin.isTTY) {
      // React's development build checks every render and makes streaming noticeably heavier; Ink and React load
      // only for the REPL, so this is the place to choose the production build.
      process.env["NODE_ENV"] ??= "production";
      // Ink reads CI / CONTINUOUS_INTEGRATION when it loads and, if set, draws no live area at all (no input line, no
      // streaming cell) until exit. A TTY on stdin is a person typing, whatever the environment says.
      if (process.stdout.isTTY) for (const key of ["CI", "CONTINUOUS_INTEGRATION"]) delete process.env[key];
      const { launchRepl } = await import("./repl/launch.tsx");
      await launchRepl(model ?? flags.model, flags as unknown as Record<string, unknown>);
      return;
    }
    const { runPipe } = await import("./commands/pipe.ts");
    await runPipe(model, flags);
  });
  registerGenerate(program);
  registerInfo(program);
  registerTokenize(program);
  registerBench(program);
  registerPerplexity(program);
  registerModelCommands(program);
  registerQuantize(program);
  registerRun(program);
  registerServe(program);
  registerTune(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** What `--help` and `--version` print (see builtAnswers). */
export interface BuiltAnswers {
  help: string;
  version: string;
}

/**
 * What `infer-repl --help` and `--version` print, rendered by the program itself as commander prints them to a pipe
 * (80 columns, no colors). The build (scripts/bundle.ts) writes this text into dist/cli/bin.js, which answers those
 * two without loading commander and every command's options (cli/bin.ts).
 */
export function builtAnswers(): BuiltAnswers {
  const program = buildProgram().configureOutput({ getOutHelpWidth: () => 80, getOutHasColors: () => false });
  return { help: program.helpInformation(), version: `${program.version()}\n` };
}

/** Runs the command line; returns the exit code (0 ok, 1 runtime failure, 2 bad arguments or input). */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(llamaServerAliases(argv), { from: "user" });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`infer-repl: ${message}\n`);
    return isBadInput(e) ? EXIT_BAD_INPUT : EXIT_RUNTIME;
  }
}
