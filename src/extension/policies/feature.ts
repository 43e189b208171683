// Policies in the editor: CodeLens on NetworkPolicy YAML ("N flows matched, M denied in the last
// 5 min"), What-if on an open (possibly unsaved) policy → Problems entries for recent flows whose
// verdict would change, opening a policy at a rule (workspace file first, else the live object),
// and the flow explanations the Flows panel shows. Verdicts come from the policy engine (src/policy).
import * as vscode from 'vscode';
import { stringify } from 'yaml';
import { requestJSON } from '../../cluster/http';
import type { Flow } from '../../flows/flow';
import { PolicyEngine } from '../../policy/engine';
import { parsePolicy } from '../../policy/parse';
import type { Policy, Protocol } from '../../policy/types';
import { advise, adviceYaml } from '../../policy/advise';
import { parseFlows } from '../../policy/flows';
import { diagnoseReach } from './reach';
import { isDrop } from '../live/stats';
import { ReachPanels } from '../../panels/reach/host';
import type { KubeObject } from '../../sandbox/apiserver/types';
import type { Explanation, PolicyLink } from '../../panels/flows/protocol';
import { type CommandSpec, registerCommands } from '../commands';
import type { Ctx } from '../ctx';
import type { LiveFeed } from '../live/feed';
import type { Session } from '../session';
import { type PolicyDoc, findPolicies, linkLine } from './locate';
import { type ClusterObjects, buildCluster, explainFlow, policyCounts, whatIf } from './verdicts';

const YAML_SELECTOR: vscode.DocumentSelector = [{ language: 'yaml' }, { pattern: '**/*.{yaml,yml}' }];

export class PoliciesFeature implements vscode.CodeLensProvider {
  private readonly lensEmitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.lensEmitter.event;
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('flowlens-whatif');
  private engine: { session: Session; engine: PolicyEngine } | undefined;
  private readonly reach: ReachPanels;

  private constructor(private readonly ctx: Ctx, private readonly live: LiveFeed) {
    this.reach = new ReachPanels(ctx);
  }

  static register(ctx: Ctx, live: LiveFeed): PoliciesFeature {
    const f = new PoliciesFeature(ctx, live);
    ctx.pushExtCleanup(f.diagnostics);
    ctx.pushExtCleanup(f.lensEmitter);
    ctx.pushExtCleanup(f.reach);
    ctx.pushExtCleanup(vscode.languages.registerCodeLensProvider(YAML_SELECTOR, f));
    ctx.pushExtCleanup(live.onDidChange(() => f.lensEmitter.fire()));
    ctx.pushExtCleanup(ctx.onDidChangeSession(() => f.onSession()));
    const specs: CommandSpec[] = [
      { id: 'flowlens.whatIf', needsCluster: true, factory: () => (session, uri) => f.whatIfCommand(session, uri) },
      { id: 'flowlens.openPolicy', needsCluster: true, factory: () => (session, link) => f.openPolicy(session, link as PolicyLink) },
      { id: 'flowlens.generatePolicy', needsCluster: true, factory: () => (session) => f.generatePolicy(session) },
      { id: 'flowlens.whyCantReach', needsCluster: true, factory: () => (session, a, b, port) => f.whyCantReach(session, a, b, port) },
    ];
    registerCommands(ctx, specs);
    return f;
  }

  private onSession(): void {
    this.engine = undefined;
    const session = this.ctx.session;
    if (session) this.ctx.pushSessionCleanup({ dispose: session.model.onDidChange(() => { this.engine = undefined; }) });
    this.lensEmitter.fire();
  }

  /**
   * Namespaces, pods and NetworkPolicies of the cluster, from the model's informers. Until the
   * policies are listed (or when the informer cannot list them) they are read once through the API.
   */
  async objects(session: Session): Promise<ClusterObjects> {
    const model = session.model;
    const listed = model.synced('networkpolicies') ? model.networkPolicies() : ((await requestJSON<{ items?: KubeObject[] }>(session.access, 'GET', '/apis/networking.k8s.io/v1/networkpolicies')).items ?? []);
    const policies = listed.map((p) => ({ ...p, kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1' }));
    return { namespaces: model.namespaces(), pods: model.pods(), policies };
  }

  /** The engine over the live objects, rebuilt on the first use after a model change. */
  private async liveEngine(session: Session): Promise<PolicyEngine> {
    if (!this.engine || this.engine.session !== session) {
      const engine = new PolicyEngine(buildCluster(await this.objects(session)));
      this.engine = { session, engine };
    }
    return this.engine.engine;
  }

  async explain(flow: Flow): Promise<Explanation> {
    const session = this.ctx.session;
    if (!session) return { lines: [], links: [], unavailable: 'no cluster connected' };
    return explainFlow(await this.liveEngine(session), flow);
  }

  async provideCodeLenses(doc: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const docs = findPolicies(doc.getText());
    const session = this.ctx.session;
    if (docs.length === 0) return [];
    const lens = (d: PolicyDoc, title: string, command = '', args: unknown[] = []) =>
      new vscode.CodeLens(new vscode.Range(d.line, 0, d.line, 0), { title, command, arguments: args });
    if (!session) return docs.map((d) => lens(d, 'Flowlens: no cluster connected'));
    const objs = await this.objects(session).catch(() => undefined);
    if (!objs) return docs.map((d) => lens(d, 'Flowlens: cannot list NetworkPolicies'));
    const flows = this.live.stats.recent(Date.now());
    return docs.flatMap((d) => {
      const policy = toPolicy(d, doc.uri.fsPath);
      if (!policy) return [lens(d, 'Flowlens: this policy does not parse')];
      const engine = new PolicyEngine(buildCluster(objs, [policy]));
      const c = policyCounts(engine, policy, flows);
      const mins = Math.round(this.live.stats.windowMs / 60_000);
      return [
        lens(d, `${c.matched} flow${c.matched === 1 ? '' : 's'} matched, ${c.denied} denied in the last ${mins} min`, 'flowlens.showFlows', []),
        lens(d, 'What-if', 'flowlens.whatIf', [doc.uri]),
      ];
    });
  }

  private async whatIfCommand(session: Session, arg: unknown): Promise<void> {
    const doc = arg instanceof vscode.Uri ? await vscode.workspace.openTextDocument(arg) : vscode.window.activeTextEditor?.document;
    if (!doc) return void this.ctx.host.showWarningMessage('Flowlens What-if: open a NetworkPolicy YAML file first.');
    const docs = findPolicies(doc.getText());
    const drafts = docs.map((d) => toPolicy(d, doc.uri.fsPath)).filter((p): p is Policy => p !== undefined);
    if (drafts.length === 0) return void this.ctx.host.showWarningMessage('Flowlens What-if: no valid NetworkPolicy in this document.');
    const changes = whatIf(await this.objects(session), drafts, this.live.stats.recent(Date.now()));
    const diags = changes.map((ch) => {
      const d = docs.find((x) => ch.policy && x.namespace === ch.policy.namespace && x.name === ch.policy.name) ?? (docs[0] as PolicyDoc);
      const line = linkLine(d, ch.policy?.direction, ch.policy?.ruleIndex);
      const what = `${endpoint(ch.flow, 'source')} → ${endpoint(ch.flow, 'destination')}:${ch.flow.l4.TCP?.destination_port ?? ch.flow.l4.UDP?.destination_port}/${ch.flow.l4.TCP ? 'TCP' : 'UDP'}`;
      const msg = ch.after ? `What-if: would ALLOW ${what} (denied now)` : `What-if: would DENY ${what} (allowed now)`;
      const diag = new vscode.Diagnostic(new vscode.Range(line, 0, line, 200), msg, ch.after ? vscode.DiagnosticSeverity.Information : vscode.DiagnosticSeverity.Warning);
      diag.source = 'flowlens';
      return diag;
    });
    this.diagnostics.set(doc.uri, diags);
    const n = this.live.stats.recent(Date.now()).length;
    void this.ctx.host.showInformationMessage(`Flowlens What-if: ${changes.length} recent connection${changes.length === 1 ? '' : 's'} would change verdict (of ${n} flows in the last ${Math.round(this.live.stats.windowMs / 60_000)} min).`);
  }

  /** Opens a policy at the rule: a workspace file that defines it, else the live object as YAML. */
  async openPolicy(session: Session, link: PolicyLink): Promise<void> {
    const files = await vscode.workspace.findFiles('**/*.{yaml,yml}', '**/node_modules/**', 500);
    for (const uri of files) {
      const doc = await vscode.workspace.openTextDocument(uri);
      const d = findPolicies(doc.getText()).find((x) => x.namespace === link.namespace && x.name === link.name);
      if (d) return void this.reveal(doc, linkLine(d, link.direction, link.ruleIndex));
    }
    const obj = await requestJSON<KubeObject>(session.access, 'GET', `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(link.namespace)}/networkpolicies/${encodeURIComponent(link.name)}`);
    const { managedFields: _m, ...metadata } = obj.metadata;
    void _m;
    const text = stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec: obj.spec });
    const doc = await vscode.workspace.openTextDocument({ language: 'yaml', content: `# live object from ${session.access.context}\n${text}` });
    const d = findPolicies(doc.getText())[0];
    await this.reveal(doc, d ? linkLine(d, link.direction, link.ruleIndex) : 0);
  }

  /** Least-privilege NetworkPolicies per workload from the recent flows (the policy engine's advisor), as a new YAML document. */
  async generatePolicy(session: Session): Promise<void> {
    const flows = this.live.stats.recent(Date.now());
    if (flows.length === 0) return void this.ctx.host.showWarningMessage('Flowlens: no flows seen in the last minutes; generate some traffic first.');
    const namespaces = ['(all namespaces)', ...session.model.namespaces().map((n) => n.metadata.name)];
    const pick = await this.ctx.host.showQuickPick(namespaces, { placeHolder: 'Generate policies for the workloads of' });
    if (!pick) return;
    // Only connections that reached a pod: replies (HTTP responses) belong to their request's
    // connection; refused or dropped attempts, and packets still addressed to a ClusterIP (no
    // backend took them), are no traffic to allow (an ipBlock on a ClusterIP would match nothing).
    const vips = new Set(session.model.services().flatMap((s) => [...((s.spec?.clusterIPs as string[] | undefined) ?? []), String(s.spec?.clusterIP ?? '')]));
    const worked = flows.filter((f) => f.is_reply !== true && !isDrop(f) && !vips.has(f.IP.destination));
    const observed = parseFlows(worked.map((flow) => JSON.stringify({ flow })).join('\n'), 'recent flows');
    const advice = advise(observed, pick.startsWith('(') ? undefined : pick);
    if (advice.length === 0) return void this.ctx.host.showWarningMessage(`Flowlens: no pod-to-pod traffic of ${pick} in the recent flows to base a policy on.`);
    const doc = await vscode.workspace.openTextDocument({ language: 'yaml', content: adviceYaml(advice, observed.length) });
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  /** Why can't A reach B? Arguments (for tests and links): "ns/pod", target, port; otherwise asked for. */
  async whyCantReach(session: Session, a?: unknown, b?: unknown, port?: unknown): Promise<void> {
    const pods = session.model.pods();
    const src = typeof a === 'string' ? a : await this.ctx.host.showQuickPick(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`), { placeHolder: 'Source pod' });
    if (!src) return;
    const source = pods.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === src);
    if (!source) return void this.ctx.host.showErrorMessage(`Flowlens: no pod ${src}`);
    const target = typeof b === 'string' ? b : await this.ctx.host.showInputBox({ prompt: 'Target: a pod or service as namespace/name, or a DNS name', placeHolder: 'shop/cart, cart.shop.svc.cluster.local, payments/payments-7d9…' });
    if (!target) return;
    const portText = typeof port === 'string' || typeof port === 'number' ? String(port) : await this.ctx.host.showInputBox({ prompt: 'Port, optionally /UDP', value: '80' });
    const m = /^(\d{1,5})(?:\/(TCP|UDP|SCTP))?$/i.exec(portText?.trim() ?? '');
    if (!m) return void (portText === undefined ? undefined : this.ctx.host.showErrorMessage(`Flowlens: "${portText}" is not a port (e.g. 8080 or 53/UDP)`));
    const protocol = (m[2]?.toUpperCase() ?? 'TCP') as Protocol;
    // Re-run (from the panel) reads the model, policies and recent flows again.
    await this.reach.show(async () => diagnoseReach({
      source: session.model.pods(source.metadata.namespace).find((p) => p.metadata.name === source.metadata.name) ?? source,
      target, port: Number(m[1]), protocol,
      pods: (ns) => session.model.pods(ns), services: (ns) => session.model.services(ns), backendsOf: (svc) => session.model.backendsOf(svc),
      engine: await this.liveEngine(session), flows: this.live.stats.recent(Date.now()),
    }));
  }

  private async reveal(doc: vscode.TextDocument, line: number): Promise<void> {
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    const pos = new vscode.Position(line, 0);
    editor.selection = new vscode.Selection(pos, pos);
    editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
  }
}

function toPolicy(d: PolicyDoc, file: string): Policy | undefined {
  try {
    return parsePolicy({ where: `${file}: document ${d.document}` }, d.object);
  } catch {
    return undefined;
  }
}

function endpoint(f: Flow, side: 'source' | 'destination'): string {
  const e = f[side];
  return e?.pod_name ? `${e.namespace ?? ''}/${e.pod_name}` : side === 'source' ? f.IP.source : f.IP.destination;
}
