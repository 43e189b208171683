// Locations inside the repository (works from the esbuild bundle in dist/ and from tsx sources).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function repoRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the repository root (package.json) above ${from}`);
    dir = up;
  }
}

export function poddPath(root = repoRoot()): string {
  return join(root, 'src/sandbox/native/.output/flowlens-podd');
}

export function cliBundlePath(root = repoRoot()): string {
  return join(root, 'dist/cli.js');
}

/** True when this code runs from the esbuild bundle (dist/cli.js) rather than from sources. */
export function runningFromBundle(): boolean {
  return __filename.endsWith(join('dist', 'cli.js'));
}
