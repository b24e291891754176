"""Record the admin API answers the snapshot tests replay (`tests/tui/fixtures/*.json`).

Runs a real `pllm serve` with mock deployments (one of them unreachable, so its health falls
and its circuit opens), keys, budgets and a mixed load, then saves `/admin/stats`,
`/admin/requests`, `/admin/keys`, `/admin/budgets` and `/admin/config`. Re-run it when the
feed's shape changes, then refresh the snapshots (`pytest tests/tui --snapshot-update`):

    python tests/tui/record_fixtures.py
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent.parent))

from server import PllmServer

MASTER = "sk-master-fixture-0123456789"
CONFIG = f"""
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: mock/gpt-4o, mock_latency_ms: 30, rpm: 600, tpm: 100000}}
    model_info: {{input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}}
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:9/v1
      api_key: sk-unreachable-upstream-0123456789
  - model_name: claude-3-5-sonnet
    litellm_params: {{model: mock/claude-3-5-sonnet, mock_latency_ms: 60,
                      mock_token_delay_ms: 2}}
    model_info: {{input_cost_per_token: 0.000003, output_cost_per_token: 0.000015}}
  - model_name: text-embedding-3-small
    litellm_params: {{model: mock/text-embedding-3-small}}
    model_info: {{input_cost_per_token: 0.00000002}}
general_settings: {{master_key: {MASTER}}}
"""
OUT = Path(__file__).parent / "fixtures"


def _chat(http: httpx.Client, key: str, model: str, stream: bool = False) -> None:
    body: dict[str, Any] = {"model": model, "stream": stream, "max_tokens": 64,
                            "messages": [{"role": "user", "content": "Say hello in five words"}]}
    http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def record() -> None:
    with tempfile.TemporaryDirectory() as tmp, PllmServer(Path(tmp), CONFIG) as server:
        admin = httpx.Client(base_url=server.url, timeout=10,
                             headers={"authorization": f"Bearer {MASTER}"})
        ci = admin.post("/admin/keys", json={"name": "ci-pipeline", "budget": 25,
                                             "budget_period": "daily", "team_id": "platform",
                                             "rpm": 120}).json()
        nb = admin.post("/admin/keys", json={"name": "notebook", "models": ["gpt-4o"],
                                             "user_id": "ana"}).json()
        admin.post("/admin/keys", json={"name": "grafana", "role": "viewer"})
        old = admin.post("/admin/keys", json={"name": "old-laptop"}).json()
        admin.delete(f"/admin/keys/{old['id']}")
        admin.put("/admin/budgets", json={"scope": "team", "subject": "platform",
                                          "max_usd": 0.05, "period": "monthly"})
        admin.put("/admin/budgets", json={"scope": "global", "max_usd": 500,
                                          "period": "monthly", "soft_usd": 400})
        http = httpx.Client(base_url=server.url, timeout=30)
        jobs = []
        for i in range(90):
            key = (ci["key"], nb["key"], MASTER)[i % 3]
            model = ("gpt-4o", "gpt-4o", "claude-3-5-sonnet")[i % 3]
            jobs.append((key, model, i % 5 == 0))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for key, model, stream in jobs:
                pool.submit(_chat, http, key, model, stream)
                time.sleep(0.05)
        for _ in range(6):
            http.post("/v1/embeddings", json={"model": "text-embedding-3-small",
                                              "input": "hello"},
                      headers={"authorization": f"Bearer {ci['key']}"})
        _chat(http, nb["key"], "claude-3-5-sonnet")  # 403: not one of its models
        _chat(http, "sk-pllm-not-a-real-key-000000000000", "gpt-4o")  # 401
        _chat(http, MASTER, "gpt-5-turbo")  # 404
        time.sleep(3)  # the audit writer commits, today's totals refresh
        answers = {
            "stats": admin.get("/admin/stats").json(),
            "requests": admin.get("/admin/requests", params={"limit": 200}).json(),
            "keys": admin.get("/admin/keys").json(),
            "budgets": admin.get("/admin/budgets").json(),
            "config": admin.get("/admin/config").json(),
        }
        text = json.dumps(answers)
        # The temporary directory is different every run: name a stable one instead.
        text = text.replace(str(Path(tmp).resolve()), "/etc/pllm").replace(tmp, "/etc/pllm")
        answers = json.loads(text)
        assert MASTER not in text and "sk-unreachable" not in text
    OUT.mkdir(exist_ok=True)
    for name, data in answers.items():
        (OUT / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {OUT / f'{name}.json'}")


if __name__ == "__main__":
    record()
