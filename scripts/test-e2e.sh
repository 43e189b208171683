#!/usr/bin/env bash
# End-to-end tier: real VS Code (code-server) in Chromium, and the Flows webview against a fake
# host. Installs code-server once (test/e2e/.code-server), builds, runs every test/e2e/*.test.ts.
# skeleton.test.ts needs root (it brings the sandbox cluster up and down); it skips loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-code-server.sh
node scripts/build.mjs
exec node scripts/run-tests.mjs test/e2e "$@"
