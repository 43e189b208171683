// `flowlens` entry point: one subcommand per module, each returning an exit code.
import { errorMessage } from '../cluster/errorable';

const USAGE = `flowlens — Kubernetes network debugger

Usage:
  flowlens observe [filters] [--last N | --first N | --follow] [--since T] [--until T] [-o json|jsonpb|compact|table]
                   filters as hubble observe: -n NS, --pod NS/NAME, --from-pod, --to-pod, -l, --service, --ip,
                   --port, --protocol, --verdict, --http-status, --dns-query, --node-name, --not, ... (observe --help)
  flowlens install | uninstall [--kubeconfig F] [--kube-context C]   agents on every node, through the API
  flowlens policy check | whatif | advise ...                        NetworkPolicy verdicts with reasons
  flowlens sandbox up | down | status | kubeconfig | exec | probe ...   the local sandbox cluster
  flowlens agent --node NAME [--listen 127.0.0.1:4260] ...          the node agent (runs in the DaemonSet)
  flowlens version
`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  observe: async () => (await import('./observe')).observeCommand,
  agent: async () => (await import('./agent')).agentCommand,
  'agent-probe': async () => (await import('./agent')).agentProbeCommand,
  sandbox: async () => (await import('./sandbox')).sandboxCommand,
  install: async () => (await import('./install')).installCommand,
  uninstall: async () => (await import('./install')).uninstallCommand,
  policy: async () => (await import('./policy')).policyCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  if (name === 'version' || name === '--version') {
    process.stdout.write('flowlens 0.1.0\n');
    return 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`flowlens: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

/** Runs the CLI with the process's arguments and sets the exit code. */
export function run(): void {
  // `flowlens … | head` closes stdout early: stop quietly like other CLIs.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      process.stderr.write(`flowlens: ${errorMessage(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run();
