// Reads `eslint --format json` output on stdin and fixes, in the files it names, what the Nest schematics' placeholder
// code breaks and `eslint --fix` cannot: parameters the stubs never use (`transform(value, metadata)`,
// `create(createWidgetDto)`) get the `_` prefix the lint rule allows, and `any` becomes `unknown`. Prints how many
// problems ESLint had reported (0: nothing to fix or to show), so scripts/generate.sh knows whether to lint again.
import { readFileSync, writeFileSync } from 'node:fs';

const UNUSED = '@typescript-eslint/no-unused-vars';
const ANY = '@typescript-eslint/no-explicit-any';

/** The edits for one file's problems, last first, so that earlier columns stay where ESLint saw them. */
function edits(messages) {
  return messages
    .filter((m) => (m.ruleId === UNUSED && /Allowed unused args/.test(m.message)) || m.ruleId === ANY)
    .sort((a, b) => b.line - a.line || b.column - a.column);
}

let problems = 0;
for (const { filePath, messages } of JSON.parse(readFileSync(0, 'utf8'))) {
  problems += messages.length;
  const todo = edits(messages);
  if (!todo.length) continue;
  const lines = readFileSync(filePath, 'utf8').split('\n');
  for (const { ruleId, line, column } of todo) {
    const text = lines[line - 1];
    const at = column - 1;
    if (ruleId === UNUSED) lines[line - 1] = `${text.slice(0, at)}_${text.slice(at)}`;
    else if (text.startsWith('any', at)) lines[line - 1] = `${text.slice(0, at)}unknown${text.slice(at + 3)}`;
  }
  writeFileSync(filePath, lines.join('\n'));
}
process.stdout.write(`${problems}\n`);
