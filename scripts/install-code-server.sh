#!/usr/bin/env bash
# Installs code-server (real VS Code: workbench in the browser, extension host in Node) once into
# test/e2e/.code-server for the end-to-end tests. Offline-safe on Debian 12 + Node 20 + npm 11
# (see /work/shared/E2E.md). Idempotent: a second run returns at once.
set -euo pipefail

VERSION=4.100.3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/test/e2e/.code-server"
MARKER="$DIR/node_modules/.flowlens-installed-$VERSION"
ENTRY="$DIR/node_modules/code-server/out/node/entry.js"

if [[ -f "$MARKER" && -f "$ENTRY" ]]; then
  exit 0
fi

# Native modules (kerberos, node-pty, spdlog, argon2...) build from source: no prebuilt downloads.
need=()
for pkg in libkrb5-dev ripgrep pkg-config python3 make g++; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "install-code-server: apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

# @vscode/ripgrep's postinstall downloads rg from GitHub unless this cache file exists.
RG_CACHE="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
RG_TAR="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [[ ! -f "$RG_TAR" ]]; then
  mkdir -p "$RG_CACHE"
  tmp="$(mktemp -d)"
  cp /usr/bin/rg "$tmp/rg"
  tar -C "$tmp" -czf "$RG_TAR" rg
  rm -rf "$tmp"
fi

# npm 11 runs dependency install scripts only when approved. The top-level approvals (argon2,
# code-server) live in test/e2e/.code-server/package.json (allowScripts). code-server's postinstall
# runs a nested `npm install` in lib/vscode, whose package.json has no allowScripts, and npm
# refuses --allow-scripts (flag, env or user config) for project installs. So: unpack without
# scripts, add the native modules' approvals to lib/vscode/package.json, then run the scripts.
# The Windows-only modules stay skipped.
NATIVE='["@parcel/watcher","@vscode/deviceid","@vscode/ripgrep","@vscode/spdlog","kerberos","native-watchdog","node-pty"]'

echo "install-code-server: installing code-server@$VERSION into $DIR (a few minutes of native builds)"
rm -rf "$DIR/node_modules"
cd "$DIR"
run() {
  npm_config_unsafe_perm=true npm_config_yes=true "$@" >>"$DIR/install.log" 2>&1 || {
    tail -40 "$DIR/install.log" >&2
    echo "install-code-server: '$*' failed; full log in $DIR/install.log" >&2
    exit 1
  }
}
: >"$DIR/install.log"
run npm install --ignore-scripts --no-audit --no-fund
run node -e '
  const fs = require("fs"); const p = process.argv[1]; const pkg = JSON.parse(fs.readFileSync(p, "utf8"));
  pkg.allowScripts = Object.fromEntries(JSON.parse(process.argv[2]).map((n) => [n, true]));
  fs.writeFileSync(p, JSON.stringify(pkg, null, 2));' "$DIR/node_modules/code-server/lib/vscode/package.json" "$NATIVE"
run npm rebuild --foreground-scripts
if grep -q "install scripts not yet covered" "$DIR/install.log"; then
  grep -A12 "install scripts not yet covered" "$DIR/install.log" | grep -v -i windows >&2 || true
fi
VSC="$DIR/node_modules/code-server/lib/vscode/node_modules"
for native in node-pty/build/Release/pty.node @vscode/spdlog/build/Release/spdlog.node; do
  [[ -f "$VSC/$native" ]] || { echo "install-code-server: missing $native (see $DIR/install.log)" >&2; exit 1; }
done
[[ -x "$VSC/@vscode/ripgrep/bin/rg" ]] || { echo "install-code-server: ripgrep missing" >&2; exit 1; }
touch "$MARKER"
echo "install-code-server: ok"
