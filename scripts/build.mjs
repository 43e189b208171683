// Bundles every entry point with esbuild: extension (Node, vscode external), webviews (browser),
// and the flowlens CLI (Node; it also runs the agent and the sandbox).
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning', legalComments: 'none' };
mkdirSync('dist', { recursive: true });

const node = { ...common, platform: 'node', target: 'node20', format: 'cjs' };
const jobs = [
  build({ ...node, entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
  build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
];
for (const panel of ['flows', 'map', 'backends', 'trace', 'reach']) {
  const entry = `webview/${panel}/main.ts`;
  if (existsSync(entry)) {
    jobs.push(build({ ...common, platform: 'browser', target: 'chrome120', format: 'esm', entryPoints: [entry], outfile: `dist/webview/${panel}.js` }));
  }
}
await Promise.all(jobs);
// Webviews load codicons from their own bundle folder (the .vsix ships without node_modules).
cpSync('node_modules/@vscode/codicons/dist', 'dist/webview/codicons', { recursive: true, filter: (f) => !/\.(svg|html|csv|json)$|codiconsLibrary/.test(f) });
