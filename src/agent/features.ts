// Kernel features the datapath needs, as probed by `flowlens-loader --features`, with what each
// missing one switches off. Used by `flowlens agent --features`; the agent's status carries the
// same map from the loader's HELLO.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { defaultLoaderPath } from './loader';
import { FEATURE_NAMES } from './layout';

const run = promisify(execFile);

/** What is off without each feature (bpf/README.md has the kernel versions). */
export const FEATURE_IMPACT: Readonly<Record<string, string>> = {
  btf: 'everything (CO-RE needs /sys/kernel/btf/vmlinux)',
  ringbuf: 'everything (records travel in a BPF ring buffer, 5.8+)',
  mmap_array: 'tc flow accounting, DNS and HTTP capture (the flow table is an mmapped array, 5.5+)',
  sched_cls: 'tc flow accounting, DNS and HTTP capture',
  tracepoint: 'TCP lifecycle, drops, retransmits and resets',
  cgroup_sock_addr: 'original destinations under socket-level load balancing',
  drop_reason_enum: 'drop reason names (drops show REASON_<n>)',
  kfree_skb_reason: 'drop reasons (drops show NOT_SPECIFIED, kernels before 5.17)',
  tcp_retransmit_tp: 'retransmit counts',
  tcp_reset_tps: 'reset flows',
  sock_state_tp: 'TCP connect/accept/close flows (the agent cannot start)',
  lru_hash: 'tc flow accounting, DNS and HTTP capture (the initiators map, 4.10+)',
  cgroup2: 'cgroup connect4/sendmsg4 (no cgroup v2 mount)',
  syscall_prog: 'the inlined jiffies clock of tc flow times (a clock helper call per packet instead, kernels before 5.14)',
};

export interface FeatureReport {
  ok: boolean;
  kernel?: string;
  features: Record<string, boolean>;
  off: Record<string, string>;
  error?: string;
}

export function describeFeatures(features: Record<string, boolean>, kernel?: string): FeatureReport {
  const off: Record<string, string> = {};
  for (const name of FEATURE_NAMES) if (!features[name]) off[name] = FEATURE_IMPACT[name] ?? 'unknown';
  const ok = ['btf', 'ringbuf', 'tracepoint', 'sock_state_tp'].every((n) => features[n]);
  return { ok, ...(kernel ? { kernel } : {}), features, off };
}

export async function featureReport(loaderPath = defaultLoaderPath()): Promise<FeatureReport> {
  try {
    const { stdout } = await run(loaderPath, ['--features'], { timeout: 10_000 });
    const parsed = JSON.parse(stdout) as { kernel?: unknown; features?: Record<string, unknown> };
    const features = Object.fromEntries(FEATURE_NAMES.map((n) => [n, parsed.features?.[n] === true]));
    return describeFeatures(features, typeof parsed.kernel === 'string' ? parsed.kernel : undefined);
  } catch (e) {
    return { ok: false, features: {}, off: {}, error: `cannot run ${loaderPath} --features: ${(e as Error).message}` };
  }
}
