// The repository root: the folder holding package.json above this file. Works from the esbuild
// bundle in dist/ and from the TypeScript sources run through tsx.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export function repoRoot(from: string = __dirname): string {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the repository root (package.json) above ${from}`);
  }
}
