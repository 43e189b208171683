// Locations inside the repository (works from the esbuild bundle in dist/ and from tsx sources).
import { join } from 'node:path';
import { repoRoot } from '../util/repo';

export { repoRoot };


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
