#!/usr/bin/env bash
# The demo: the sandbox cluster with the built-in shop scenario, the Flowlens agent, background
# traffic between the shop's pods, and real VS Code (code-server) with the extension installed.
# Prints the URL; Ctrl-C stops everything and removes the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PORT=${FLOWLENS_DEMO_PORT:-8080}
HOST=${FLOWLENS_DEMO_HOST:-127.0.0.1}

bash scripts/setup.sh
bash scripts/install-code-server.sh
CLI=(node "$ROOT/dist/cli.js")

"${CLI[@]}" sandbox up
KC=$("${CLI[@]}" sandbox kubeconfig)

DEMO=$ROOT/.cache/demo
EXT=$DEMO/extensions/flowlens.flowlens-0.1.0
rm -rf "$EXT"; mkdir -p "$EXT" "$DEMO/user/User" "$DEMO/workspace"
cp -r package.json README.md dist media "$EXT"/
mkdir -p "$EXT/node_modules/@vscode" && cp -r node_modules/@vscode/codicons "$EXT/node_modules/@vscode/"
cat > "$DEMO/user/User/settings.json" <<JSON
{ "security.workspace.trust.enabled": false, "workbench.startupEditor": "none", "flowlens.kubeconfig": "$KC" }
JSON
cp -r deploy "$DEMO/workspace/" 2>/dev/null || true

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo; echo "demo: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "${CLI[@]}" sandbox down || true
}
trap cleanup EXIT INT TERM

# Background traffic: every pod probes every Service of its own namespace and of the others.
traffic() {
  while true; do
    pods=$(kubectl --kubeconfig "$KC" get pods -A --no-headers -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,HN:.spec.hostNetwork | awk '$3!="true"{print $1"/"$2}')
    svcs=$(kubectl --kubeconfig "$KC" get svc -A --no-headers -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,PORT:.spec.ports[0].port | awk '$1!="kube-system" && $1!="default"{print $1"/"$2" "$3}')
    for p in $pods; do
      while read -r s port; do
        [ -n "$s" ] && "${CLI[@]}" sandbox probe --from "$p" --to "$s" --port "$port" --timeout 500ms -o json >/dev/null 2>&1 || true
      done <<<"$svcs"
      sleep 0.2
    done
    sleep 2
  done
}
traffic & pids+=($!)

node test/e2e/.code-server/node_modules/code-server/out/node/entry.js \
  --auth none --bind-addr "$HOST:$PORT" --disable-telemetry --disable-update-check \
  --extensions-dir "$DEMO/extensions" --user-data-dir "$DEMO/user" "$DEMO/workspace" >"$DEMO/code-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do curl -sf "http://$HOST:$PORT/healthz" >/dev/null && break; sleep 0.5; done
echo
echo "Flowlens demo is running:  http://$HOST:$PORT/"
echo "  kubectl: export KUBECONFIG=$KC"
echo "  CLI:     ./bin/flowlens observe --follow"
echo "Press Ctrl-C to stop (the sandbox is removed)."
wait "${pids[-1]}"
