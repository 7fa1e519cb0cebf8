#!/usr/bin/env bash
# The package as a user gets it: packs the tarball (prepack builds dist/ and the linux-x64 prebuilt addon), installs
# it in an empty folder outside the clone with no C++ compiler on PATH, and checks that it starts and generates:
# --version, a greedy generation and a recipe run, each against what the clone's own sources print.
#   usage: bash scripts/pack-smoke.sh   (CI runs it after npm test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
model="$root/../shared/models/stories15M-q8_0.gguf"
work=$(mktemp -d "${TMPDIR:-/tmp}/infer-repl-pack-XXXXXX")
trap 'rm -rf "$work"' EXIT

npm pack --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; exit 1; }
tarball=$(ls "$work"/infer-repl-*.tgz)
tar tzf "$tarball" >"$work/contents.txt" # (not piped into grep -q: under pipefail, tar's SIGPIPE would fail the check)
grep -q '^package/prebuilds/linux-x64/.*\.node$' "$work/contents.txt" || { echo "pack-smoke: no linux-x64 prebuild in $tarball" >&2; exit 1; }

# A PATH with node, npm and a shell only: had the install tried to compile the addon, it would have failed.
mkdir "$work/bin" "$work/app"
for tool in node npm npx sh env; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
cd "$work/app"
PATH="$work/bin" npm install --no-audit --no-fund "$tarball"
[ ! -e node_modules/infer-repl/build ] || { echo "pack-smoke: installing the tarball compiled the addon" >&2; exit 1; }

expect() { # NAME ACTUAL EXPECTED
  if [ "$2" != "$3" ]; then printf 'pack-smoke: %s printed\n%s\ninstead of\n%s\n' "$1" "$2" "$3" >&2; exit 1; fi
  printf 'pack-smoke: %s ok: %s\n' "$1" "$2"
}
run() { PATH="$work/bin" npx infer-repl "$@"; }
source_cli() { node "$root/bin/infer-repl.mjs" "$@"; }

expect "--version" "$(run --version)" "$(node -p "require('$root/package.json').version")"
args=(generate -m "$model" -p "Once upon a time" --temp 0 -n 8)
expect "generate" "$(run "${args[@]}")" "$(source_cli "${args[@]}")"
cat > recipe.ts <<RECIPE
import { defineRecipe } from "infer-repl";
export default defineRecipe(import.meta, { model: "$model", sampling: { temperature: 0 }, maxTokens: 8 });
RECIPE
expect "run recipe.ts" "$(run run recipe.ts "Once upon a time")" "$(source_cli "${args[@]}")"
