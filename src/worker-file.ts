// Where a compiled worker module (workers/NAME.ts) is: beside this file's dist/ twin when
// running from dist/, under dist/ when vitest runs this file from src/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function workerFile(name: string): string {
  for (const u of [new URL(`../workers/${name}.js`, import.meta.url), new URL(`../dist/workers/${name}.js`, import.meta.url)]) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`workers/${name}.js is not built: run \`npm run build\``);
}
