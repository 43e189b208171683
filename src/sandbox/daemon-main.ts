// Entry for running the sandbox CLI from sources (tsx), used when the CLI is not the esbuild
// bundle: `node --import tsx src/sandbox/daemon-main.ts daemon ...`.
import { sandboxCommand } from '../cli/sandbox';

sandboxCommand(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.stderr.write(`flowlens sandbox: ${(e as Error).message}\n`); process.exitCode = 1; },
);
