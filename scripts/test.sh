#!/usr/bin/env bash
# Every test tier: static checks, unit, integration (real kubectl), kernel (root: real eBPF,
# netns, iptables) and e2e (real VS Code in Chromium). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
export FLOWLENS_TEST_SUMMARY
FLOWLENS_TEST_SUMMARY=$(mktemp)
summary() {
  # The one closing line over every tier; a tier that died before reporting counts as a failure.
  # A failed static check or setup step counts as one failure too.
  awk -v rc="$1" '{p+=$1; f+=$2; s+=$3} END {if (rc != 0 && f == 0) f = 1; printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$FLOWLENS_TEST_SUMMARY"
  rm -f "$FLOWLENS_TEST_SUMMARY"
}
trap 'summary $?' EXIT
bash scripts/setup.sh
echo "== typecheck"; npx tsc --noEmit -p .
echo "== lint"; npx eslint --max-warnings 0 .
echo "== unit"; node scripts/run-tests.mjs test/unit
echo "== integration"; node scripts/run-tests.mjs test/integration
echo "== kernel"; node scripts/run-tests.mjs test/kernel
echo "== e2e"; bash scripts/test-e2e.sh
echo "== all tiers passed in $(( $(date +%s) - start ))s"
