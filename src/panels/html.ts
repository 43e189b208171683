// A panel's HTML in its webview: the secure shell (shell.ts) with the panel's bundle, stylesheet
// and the codicons as webview URIs under dist/webview, and a fresh nonce.
import * as vscode from 'vscode';
import { makeNonce, renderShell } from './shell';

export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, panel: string, title: string, state: unknown = {}): string {
  const asUri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', ...p)).toString();
  return renderShell({
    title, cspSource: webview.cspSource, nonce: makeNonce(), state,
    scriptUri: asUri(`${panel}.js`), styleUri: asUri(`${panel}.css`), codiconsUri: asUri('codicons', 'codicon.css'),
  });
}
