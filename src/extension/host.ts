// The small seam around `vscode.window` that features use to talk to the user.
import * as vscode from 'vscode';

export interface Host {
  showInformationMessage(message: string, ...items: string[]): Thenable<string | undefined>;
  showWarningMessage(message: string, ...items: string[]): Thenable<string | undefined>;
  showErrorMessage(message: string, ...items: string[]): Thenable<string | undefined>;
  showQuickPick(items: string[], options: { placeHolder: string }): Thenable<string | undefined>;
  showInputBox(options: { prompt: string; value?: string; placeHolder?: string }): Thenable<string | undefined>;
}

export const vscodeHost: Host = {
  showInformationMessage: (m, ...items) => vscode.window.showInformationMessage(m, ...items),
  showWarningMessage: (m, ...items) => vscode.window.showWarningMessage(m, ...items),
  showErrorMessage: (m, ...items) => vscode.window.showErrorMessage(m, ...items),
  // Prompts stay open when focus moves (a live tree refresh, a webview update); Escape cancels.
  showQuickPick: (items, options) => vscode.window.showQuickPick(items, { ...options, ignoreFocusOut: true }),
  showInputBox: (options) => vscode.window.showInputBox({ ...options, ignoreFocusOut: true }),
};
