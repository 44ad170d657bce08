#!/usr/bin/env bash
# `npm run generate -- <schematic> <name>`: `nest generate`, then Prettier and `eslint --fix` on the files it wrote.
# The schematics write in their own style (value imports of types, no trailing commas) that `npm run check` refuses.
# Runs in the current directory (npm runs scripts from the project root).
set -euo pipefail
output=$(node_modules/.bin/nest generate "$@")
printf '%s\n' "$output"
# "CREATE src/widgets/widgets.module.ts (84 bytes)", "UPDATE src/app.module.ts (2536 bytes)", in colour.
mapfile -t files < <(sed -E 's/\x1b\[[0-9;]*m//g' <<<"$output" | sed -nE 's/^(CREATE|UPDATE) (.+) \([0-9]+ bytes\)$/\2/p')
((${#files[@]})) || exit 0
node_modules/.bin/prettier --write --log-level warn "${files[@]}"
node_modules/.bin/eslint --fix --max-warnings 0 "${files[@]}"
