#!/usr/bin/env bash
# `npm run generate -- <schematic> <name>`: `nest generate`, then Prettier and `eslint --fix` on the files it wrote.
# The schematics write in their own style (value imports of types, no trailing commas) that `npm run check` refuses,
# and their placeholder code has unused parameters and `any`, which scripts/fix-generated-stubs.mjs mends.
# Runs in the current directory (npm runs scripts from the project root).
set -euo pipefail
output=$(node_modules/.bin/nest generate "$@")
printf '%s\n' "$output"
# --dry-run lists the files without writing them.
! grep -q 'No files written to disk' <<<"$output" || exit 0
# "CREATE src/widgets/widgets.module.ts (84 bytes)", "UPDATE src/app.module.ts (2536 bytes)", in colour.
mapfile -t files < <(sed -E 's/\x1b\[[0-9;]*m//g' <<<"$output" | sed -nE 's/^(CREATE|UPDATE) (.+) \([0-9]+ bytes\)$/\2/p')
# nest exits 0 when a schematic fails (a file it would create exists); its error went to stderr.
((${#files[@]})) || { echo "nest generate wrote nothing" >&2; exit 1; }
node_modules/.bin/prettier --write --log-level warn "${files[@]}"
# ESLint exits 1 on what it could not fix; the report says what that is.
report=$(node_modules/.bin/eslint --fix --format json "${files[@]}") || (($? == 1))
(($(node scripts/fix-generated-stubs.mjs <<<"$report") == 0)) && exit 0
node_modules/.bin/prettier --write --log-level warn "${files[@]}"
# Lists what is left (an empty interface wants its first member) and fails if anything is.
node_modules/.bin/eslint --max-warnings 0 "${files[@]}"
