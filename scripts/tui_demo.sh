#!/usr/bin/env bash
# Watch `pllm tui` follow a gateway under load, in tmux, and save what the screen showed.
#
#   scripts/tui_demo.sh [SECONDS] [OUT]        (defaults: 20 seconds, ./tui_demo.txt)
#
# Starts `pllm serve` on 127.0.0.1 with mock deployments (no keys, no network; one of the two
# `gpt-4o` deployments points at a closed port, so its health score falls while the other
# serves), loads it with `pllm bench` (a curl loop when this pllm has no bench command),
# runs `pllm tui` in a detached 120x40 tmux session and captures the pane a few times: the
# dashboard early and late, then the requests, keys and budgets tabs. Attach while it runs
# to watch: `tmux attach -t pllm-tui-demo`. Needs tmux and curl. Environment: PLLM (the
# command, default `pllm`, else `python -m pllm`), PORT (default 18080).
set -euo pipefail

SECONDS_TOTAL=${1:-20}
OUT=$(realpath -m "${2:-tui_demo.txt}")
PORT=${PORT:-18080}
URL="http://127.0.0.1:${PORT}"
MASTER="sk-demo-master-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SESSION=pllm-tui-demo
if [[ -z "${PLLM:-}" ]]; then
  if command -v pllm >/dev/null; then PLLM=pllm; else PLLM="python3 -m pllm"; fi
fi

work=$(mktemp -d)
server_pid=""
load_pids=()
cleanup() {
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/config.yaml" <<EOF
model_list:
  - model_name: gpt-4o
    litellm_params: {model: mock/gpt-4o, mock_latency_ms: 40, rpm: 6000, tpm: 2000000}
    model_info: {input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}
  - model_name: gpt-4o            # nothing listens on port 9: this one fails
    litellm_params: {model: openai/gpt-4o, api_base: "http://127.0.0.1:9/v1", api_key: sk-demo-unreachable-0000}
  - model_name: claude-3-5-sonnet
    litellm_params: {model: mock/claude-3-5-sonnet, mock_latency_ms: 120, mock_token_delay_ms: 10}
    model_info: {input_cost_per_token: 0.000003, output_cost_per_token: 0.000015}
general_settings: {master_key: $MASTER}
EOF

echo "starting pllm serve on $URL"
PLLM_DB="$work/pllm.db" $PLLM serve --config "$work/config.yaml" --port "$PORT" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fs "$URL/health" >/dev/null && break; sleep 0.2; done
curl -fs "$URL/health" >/dev/null || { cat "$work/serve.log"; exit 1; }

admin() { curl -fs -H "authorization: Bearer $MASTER" -H 'content-type: application/json' "$@"; }
key=$(admin -X POST "$URL/admin/keys" -d '{"name": "bench", "budget": 5, "budget_period": "daily"}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
admin -X POST "$URL/admin/keys" -d '{"name": "grafana", "role": "viewer"}' >/dev/null
admin -X PUT "$URL/admin/budgets" -d '{"scope": "global", "max_usd": 20, "period": "monthly"}' >/dev/null

if $PLLM bench --help >/dev/null 2>&1; then
  echo "load: pllm bench"
  $PLLM bench --url "$URL" --key "$key" --model gpt-4o -c 4 -d "$SECONDS_TOTAL" >"$work/bench-chat.log" 2>&1 &
  load_pids+=($!)
  $PLLM bench --url "$URL" --key "$key" --model claude-3-5-sonnet --stream -c 2 -d "$SECONDS_TOTAL" >"$work/bench-stream.log" 2>&1 &
  load_pids+=($!)
else
  echo "load: curl loop (this pllm has no bench command)"
  (end=$((SECONDS + SECONDS_TOTAL)); while ((SECONDS < end)); do
    for model in gpt-4o gpt-4o claude-3-5-sonnet; do
      curl -s -o /dev/null "$URL/v1/chat/completions" -H "authorization: Bearer $key" \
        -H 'content-type: application/json' \
        -d "{\"model\": \"$model\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}" &
    done; wait; done) &
  load_pids+=($!)
fi

tmux new-session -d -s "$SESSION" -x 120 -y 40 "$PLLM tui --url $URL --key $MASTER"
capture() {  # capture TITLE
  { echo "=== $1 ($(date +%H:%M:%S))"; tmux capture-pane -p -t "$SESSION"; echo; } >>"$OUT"
}
: >"$OUT"
early=$((SECONDS_TOTAL / 3)); late=$((SECONDS_TOTAL - early - 2))
sleep "$early"; capture "dashboard after ${early}s of load"
sleep "$late"; capture "dashboard after $((early + late))s of load"
tmux send-keys -t "$SESSION" 2; sleep 1.5; capture "recent requests"
tmux send-keys -t "$SESSION" 3; sleep 1.5; capture "keys"
tmux send-keys -t "$SESSION" 4; sleep 1.5; capture "budgets"
tmux send-keys -t "$SESSION" q
for pid in "${load_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
load_pids=()
if [[ -f "$work/bench-chat.log" ]]; then
  { echo "=== pllm bench (gpt-4o, 4 connections)"; tail -n 25 "$work/bench-chat.log"; } >>"$OUT"
fi
echo "wrote $OUT"
