// Where a compiled worker module (workers/NAME.ts) is: beside this file's dist/ twin when
// running from dist/, under dist/ when vitest runs this file from src/.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export function workerFile(name: string): string {
  for (const u of [new URL(`../workers/${name}.js`, import.meta.url), new URL(`../dist/workers/${name}.js`, import.meta.url)]) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`workers/${name}.js is not built: run \`npm run build\``);
}

/**
 * The compiled twin of a module given by its URL (a job kind's import.meta.url): itself when
 * it is JavaScript already, its file under dist/ when vitest runs the TypeScript.
 */
export function compiledFile(moduleUrl: string): string {
  const p = fileURLToPath(moduleUrl);
  if (p.endsWith('.js')) return p;
  const root = fileURLToPath(new URL('..', import.meta.url));
  const rel = relative(root, p).replace(/\.ts$/, '.js');
  const out = join(root, 'dist', rel);
  if (!existsSync(out)) throw new Error(`${rel} is not built: run \`npm run build\``);
  return out;
}
