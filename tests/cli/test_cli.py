"""The `pllm` command as users run it (a subprocess each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "litellm"


def pllm(*args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "pllm", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=60, cwd=cwd)


def test_version_and_help() -> None:
    from pllm import __version__

    assert pllm("version").stdout.strip() == __version__
    out = pllm("--help").stdout
    for command in ("serve", "config", "version"):
        assert command in out
    assert "--demo" in pllm("serve", "--help").stdout


def test_validate_good_config(tmp_path: Path) -> None:
    done = pllm("config", "validate", str(FIXTURES / "quickstart.yaml"),
                env={"AZURE_API_KEY_EU": "k-eu-123456", "AZURE_API_KEY_CA": "k-ca-123456"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid:" in done.stdout


def test_validate_lists_every_error(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("model_list:\n"
                   "  - model_name: a\n"
                   "    litellm_params:\n"
                   "      model: opena/gpt-4o\n"
                   "  - model_name: b\n"
                   "    litellm_params:\n"
                   "      model: openai/gpt-4o\n"
                   "      api_key: os.environ/NOT_SET_ANYWHERE\n"
                   "      tpm: many\n")
    done = pllm("config", "validate", str(cfg))
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(lines) == 3
    assert lines[0].startswith(f"{cfg}:4:14: error: model_list[0].litellm_params.model: "
                               "unknown provider 'opena' (did you mean 'openai'?)")
    assert f"{cfg}:8:16:" in done.stdout and "NOT_SET_ANYWHERE" in done.stdout
    data = json.loads(pllm("config", "validate", str(cfg), "--json").stdout)
    assert data["valid"] is False and len(data["errors"]) == 3
    assert data["errors"][0]["line"] == 4 and data["errors"][0]["column"] == 14


def test_allow_missing_env_downgrades_to_warnings(tmp_path: Path) -> None:
    cfg = tmp_path / "ci.yaml"
    cfg.write_text("model_list:\n  - model_name: a\n    litellm_params:\n"
                   "      model: openai/gpt-4o\n      api_key: os.environ/CI_HAS_NO_SECRET\n")
    assert pllm("config", "validate", str(cfg)).returncode == 1
    done = pllm("config", "validate", str(cfg), "--allow-missing-env", "--json")
    data = json.loads(done.stdout)
    assert done.returncode == 0 and data["valid"] is True
    assert "CI_HAS_NO_SECRET" in data["warnings"][0]["message"]


def test_show_masks_every_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_list:\n  - model_name: a\n    litellm_params:\n"
                   "      model: azure/dep\n      api_base: https://r.openai.azure.com\n"
                   "      api_key: os.environ/SHOW_KEY\n"
                   "      azure_ad_token: eyJ-super-secret-token\n"
                   "general_settings:\n  master_key: sk-master-show-secret-value\n")
    done = pllm("config", "show", str(cfg), env={"SHOW_KEY": "az-show-secret-value-1234"})
    assert done.returncode == 0, done.stderr
    for secret in ("az-show-secret-value-1234", "eyJ-super-secret-token",
                   "sk-master-show-secret-value"):
        assert secret not in done.stdout
    assert "model_list:" in done.stdout and "https://r.openai.azure.com" in done.stdout


def test_serve_reports_a_missing_config_file(tmp_path: Path) -> None:
    done = pllm("serve", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "not found" in done.stderr
