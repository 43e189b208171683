#!/usr/bin/env bash
# Every test tier: static checks, unit, integration (real kubectl), kernel (root: real eBPF,
# netns, iptables) and e2e (real VS Code in Chromium). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
echo "== typecheck"; npx tsc --noEmit -p .
echo "== lint"; npx eslint --max-warnings 0 .
echo "== unit"; node scripts/run-tests.mjs test/unit
echo "== integration"; node scripts/run-tests.mjs test/integration
echo "== kernel"; node scripts/run-tests.mjs test/kernel
echo "== e2e"; bash scripts/test-e2e.sh
echo "== all tiers passed in $(( $(date +%s) - start ))s"
