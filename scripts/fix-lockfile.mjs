#!/usr/bin/env node
// The npm registry these machines reach lacks some platform builds of optional native packages
// (e.g. @msgpackr-extract/* for macOS and Windows). npm then leaves them out of package-lock.json
// but keeps them listed as optional dependencies, and `npm ci` refuses the lock as "out of sync".
// This drops optional dependencies that have no entry in the lock. Run it after `npm install`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let pruned = 0;
for (const entry of Object.values(lock.packages)) {
  if (!entry.optionalDependencies) continue;
  for (const name of Object.keys(entry.optionalDependencies)) {
    if (!lock.packages[`node_modules/${name}`]) {
      delete entry.optionalDependencies[name];
      pruned += 1;
    }
  }
}
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: pruned ${pruned} unresolvable optional dependencies`);
