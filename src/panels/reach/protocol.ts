// The "Why can't A reach B?" panel's contract, imported by the host (src/panels/reach/host.ts) and
// the webview (webview/reach/main.ts). No `vscode`, no DOM. Every message is validated on arrival.
import { type ContractGuards, isRecord } from '../ipc';
import type { ReachReport, Step, StepStatus } from '../../extension/policies/reach';

export interface ReachView {
  seq: number;
  report: ReachReport;
  /** When the report was computed (ISO time). */
  at: string;
  /** Why the report could not be (re)computed, when it could not. */
  error?: string;
}

type Empty = Record<string, never>;

export type ReachContract = {
  commands: { ready: Empty; copyMarkdown: Empty; rerun: Empty };
  requests: Record<string, never>;
  notifications: { view: ReachView };
};

const STATUSES: readonly StepStatus[] = ['ok', 'fail', 'warn', 'skip'];
const isStr = (v: unknown): v is string => typeof v === 'string';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;

function isStep(v: unknown): v is Step {
  return isRecord(v) && isStr(v.name) && isStr(v.detail) && STATUSES.includes(v.status as StepStatus);
}

export function isReachReport(v: unknown): v is ReachReport {
  return isRecord(v) && isStr(v.from) && isStr(v.to) && isPort(v.port) && ['TCP', 'UDP', 'SCTP'].includes(v.protocol as string)
    && Array.isArray(v.steps) && v.steps.length <= 32 && v.steps.every(isStep) && isStr(v.verdict);
}

export function isReachView(v: unknown): v is ReachView {
  return isRecord(v) && typeof v.seq === 'number' && Number.isSafeInteger(v.seq) && v.seq >= 0 && isReachReport(v.report) && isStr(v.at)
    && (v.error === undefined || isStr(v.error));
}

const isEmpty = (v: unknown): v is Empty => isRecord(v) && Object.keys(v).length === 0;

export const reachGuards: ContractGuards<ReachContract> = {
  commands: { ready: isEmpty, copyMarkdown: isEmpty, rerun: isEmpty },
  requests: {},
  notifications: { view: isReachView },
};
