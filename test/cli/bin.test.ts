import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { builtAnswers } from "../../cli/main.ts";
import { runCli, runNode } from "../helpers/cli.ts";
import { repoRoot } from "../helpers/paths.ts";

// The build answers `--help` and `--version` from text rendered at build time (cli/bin.ts, scripts/bundle.ts): it
// must be exactly what commander prints at run time, or the two would drift apart.

test("the rendered --help and --version equal what commander prints at run time", async () => {
  const built = builtAnswers();
  for (const [args, expected] of [[["--help"], built.help], [["-h"], built.help], [["--version"], built.version]] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, expected, `${args.join(" ")} differs from the text the build writes into dist/cli/bin.js`);
  }
});

const bin = path.join(repoRoot, "dist/cli/bin.js");
const built = existsSync(bin);

test("the built command prints the sources' --help, -h and --version", { skip: !built && "dist/ is not built (npm run build)" }, async () => {
  for (const args of [["--help"], ["-h"], ["--version"], ["generate", "--help"]]) {
    const [fromBuild, fromSources] = await Promise.all([runNode([bin, ...args]), runCli(args)]);
    assert.equal(fromBuild.code, 0, fromBuild.stderr);
    assert.equal(fromBuild.stdout, fromSources.stdout, `infer-repl ${args.join(" ")}`);
  }
});

test("on a terminal of another width the built --help is wrapped to it, as commander wraps it", { skip: !built && "dist/ is not built (npm run build)" }, () => {
  // script(1) gives the command a pseudo-terminal, here 100 columns wide; the text rendered at build time has 80.
  const onTerminal = (entry: string) =>
    execFileSync("script", ["-qec", `stty cols 100 rows 24; ${process.execPath} ${entry} --help`, "/dev/null"], { cwd: repoRoot, encoding: "utf8" });
  const fromBuild = onTerminal(bin);
  assert.notEqual(fromBuild.replaceAll("\r\n", "\n"), builtAnswers().help, "the 80-column text was printed on a 100-column terminal");
  assert.equal(fromBuild, onTerminal(path.join(repoRoot, "bin/infer-repl.mjs")));
});
