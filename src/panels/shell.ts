// The one secure HTML shell every panel uses: `default-src 'none'`, scripts only by nonce, styles
// and fonts only from the extension's own webview resources, initial state in a data attribute
// (never pasted into a script). Pure: the host passes in already-converted webview URIs.
import { randomBytes } from 'node:crypto';

export interface ShellOptions {
  title: string;
  /** `webview.cspSource`. */
  cspSource: string;
  nonce: string;
  /** The panel bundle (dist/webview/<panel>.js) as a webview URI. */
  scriptUri: string;
  /** Stylesheets: the panel's bundled CSS, then the codicons stylesheet (by id, for vscode-elements). */
  styleUri: string;
  codiconsUri: string;
  /** JSON-serialisable initial state, read by the webview from `document.body.dataset.state`. */
  state: unknown;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

export function renderShell(o: ShellOptions): string {
  const a = (s: string) => escapeHtml(s);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${a(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${a(o.codiconsUri)}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${a(o.styleUri)}">
<title>${a(o.title)}</title>
</head>
<body data-state="${a(JSON.stringify(o.state))}">
<div id="app"></div>
<script type="module" nonce="${a(o.nonce)}" src="${a(o.scriptUri)}"></script>
</body>
</html>`;
}
