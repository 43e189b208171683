// How the node's dataplane is programmed: kube-proxy's iptables chains (iptables-save -t nat:
// KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* DNAT) and its nftables table (nft -j list table ip
// kube-proxy: the service-ips map -> service-* chains -> endpoint-* dnat), as Service frontends
// with their programmed backends. Clients compare these with EndpointSlices (declared) and with
// observed flows to flag drift. Parsers are pure and tolerate rules they do not know.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Backend { ip: string; port: number; /** Share of new connections (0..1) as programmed. */ weight: number }
export interface Frontend { ip: string; port: number; protocol: 'TCP' | 'UDP' | 'SCTP'; service?: string; backends: Backend[] }
export interface Dataplane { mode: 'iptables' | 'nftables' | 'none'; frontends: Frontend[]; error?: string }

/** Splits one iptables-save rule into words, honouring double quotes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

function opt(words: string[], name: string): string | undefined {
  const i = words.indexOf(name);
  return i >= 0 ? words[i + 1] : undefined;
}

function protocol(p: string | undefined): Frontend['protocol'] | undefined {
  const u = p?.toUpperCase();
  return u === 'TCP' || u === 'UDP' || u === 'SCTP' ? u : undefined;
}

function hostPort(s: string | undefined): { ip: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(s ?? '');
  return m ? { ip: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
}

/** Weights of "first match wins" random rules: p_i * product of (1 - p_j) before it. */
function weights(probs: (number | undefined)[]): number[] {
  let left = 1;
  return probs.map((p) => {
    const w = left * (p ?? 1);
    left -= w;
    return Math.round(w * 1e6) / 1e6;
  });
}

/** Frontends from `iptables-save -t nat` text (kube-proxy iptables mode). */
export function parseIptablesNat(text: string): Frontend[] {
  const svcJumps = new Map<string, { sep: string; prob?: number }[]>();
  const sepDest = new Map<string, { ip: string; port: number }>();
  const fronts: (Frontend & { chain?: string })[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const w = splitRule(line);
    const chain = w[1]!;
    const target = opt(w, '-j');
    if (chain === 'KUBE-SERVICES') {
      const ip = opt(w, '-d')?.replace(/\/32$/, '');
      const proto = protocol(opt(w, '-p'));
      const port = Number(opt(w, '--dport'));
      if (!ip || !proto || !Number.isInteger(port) || !(target?.startsWith('KUBE-SVC-') || target === 'REJECT')) continue;
      const comment = opt(w, '--comment')?.replace(/ (cluster IP|has no endpoints)$/, '');
      fronts.push({ ip, port, protocol: proto, ...(comment ? { service: comment } : {}), backends: [], ...(target === 'REJECT' ? {} : { chain: target }) });
    } else if (chain.startsWith('KUBE-SVC-') && target?.startsWith('KUBE-SEP-') && !w.includes('--rcheck')) {
      const p = opt(w, '--probability');
      const list = svcJumps.get(chain) ?? [];
      list.push({ sep: target, ...(p !== undefined ? { prob: Number(p) } : {}) });
      svcJumps.set(chain, list);
    } else if (chain.startsWith('KUBE-SEP-') && target === 'DNAT') {
      const dest = hostPort(opt(w, '--to-destination'));
      if (dest) sepDest.set(chain, dest);
    }
  }
  return fronts.map(({ chain, ...f }) => {
    const jumps = chain ? svcJumps.get(chain) ?? [] : [];
    const ws = weights(jumps.map((j) => j.prob));
    const backends = jumps.flatMap((j, i) => {
      const d = sepDest.get(j.sep);
      return d ? [{ ...d, weight: ws[i]! }] : [];
    });
    return { ...f, backends };
  });
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function gotoTarget(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  const g = (v.goto ?? v.jump) as Json | undefined;
  return isObj(g) && typeof g.target === 'string' ? g.target : undefined;
}

/** Frontends from `nft -j list table ip kube-proxy` (kube-proxy nftables mode). */
export function parseNftKubeProxy(json: string): Frontend[] {
  const doc = JSON.parse(json) as { nftables?: unknown[] };
  const items = (doc.nftables ?? []).filter(isObj);
  const rulesByChain = new Map<string, Json[]>();
  for (const it of items) {
    const r = it.rule;
    if (isObj(r) && typeof r.chain === 'string') rulesByChain.set(r.chain, [...(rulesByChain.get(r.chain) ?? []), r]);
  }
  const exprs = (chain: string): unknown[] => (rulesByChain.get(chain) ?? []).flatMap((r) => (Array.isArray(r.expr) ? r.expr : []));
  const endpoint = (chain: string): { ip: string; port: number } | undefined => {
    for (const e of exprs(chain)) {
      const d = isObj(e) ? e.dnat : undefined;
      if (isObj(d) && typeof d.addr === 'string' && typeof d.port === 'number') return { ip: d.addr, port: d.port };
    }
    return undefined;
  };
  const backendsOf = (chain: string): Backend[] => {
    const targets: string[] = [];
    for (const e of exprs(chain)) {
      const set = isObj(e) && isObj(e.vmap) && isObj(e.vmap.data) ? e.vmap.data.set : undefined;
      if (Array.isArray(set)) for (const pair of set) if (Array.isArray(pair)) { const t = gotoTarget(pair[1]); if (t) targets.push(t); }
      const direct = gotoTarget(e);
      if (direct?.startsWith('endpoint-')) targets.push(direct);
    }
    return targets.flatMap((t) => { const d = endpoint(t); return d ? [{ ...d, weight: Math.round(1e6 / targets.length) / 1e6 }] : []; });
  };
  const out: Frontend[] = [];
  for (const it of items) {
    const m = it.map;
    if (!isObj(m) || m.name !== 'service-ips' || !Array.isArray(m.elem)) continue;
    for (const el of m.elem) {
      if (!Array.isArray(el)) continue;
      const key = isObj(el[0]) && Array.isArray(el[0].concat) ? el[0].concat : [];
      const [ip, proto, port] = key as unknown[];
      const chain = gotoTarget(el[1]);
      const p = protocol(typeof proto === 'string' ? proto : undefined);
      if (typeof ip !== 'string' || !p || typeof port !== 'number' || !chain) continue;
      const name = /^service-[A-Z0-9]+-(.+)\/(tcp|udp|sctp)\/(.*)$/.exec(chain);
      out.push({ ip, port, protocol: p, ...(name ? { service: `${name[1]}:${name[3]}` } : {}), backends: backendsOf(chain) });
    }
  }
  return out;
}

/** Binaries found missing (ENOENT): not spawned again every 10 s (a spawn from the agent costs ms). */
const missing = new Set<string>();

/** Reads the node's programmed Services: nftables when kube-proxy's table exists, else iptables. */
export async function readDataplane(): Promise<Dataplane> {
  if (!missing.has('nft')) {
    try {
      const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', 'kube-proxy'], { maxBuffer: 256 * 1024 * 1024 });
      const frontends = parseNftKubeProxy(stdout);
      if (frontends.length > 0) return { mode: 'nftables', frontends };
    } catch (e) {
      // no nft binary or no kube-proxy table: try iptables
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') missing.add('nft');
    }
  }
  try {
    const { stdout } = await run('iptables-save', ['-t', 'nat'], { maxBuffer: 256 * 1024 * 1024 });
    const frontends = parseIptablesNat(stdout);
    return { mode: frontends.length > 0 ? 'iptables' : 'none', frontends };
  } catch (e) {
    return { mode: 'none', frontends: [], error: `iptables-save: ${(e as Error).message}` };
  }
}
