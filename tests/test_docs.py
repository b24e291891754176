"""The docs stay true to the code: every setting pllm reads and every command is documented,
and the example config validates as shipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pllm.config import deployments, read_settings, sections

ROOT = Path(__file__).parent.parent
CONFIG_DOC = (ROOT / "docs" / "config.md").read_text()
README = (ROOT / "README.md").read_text()

SETTINGS = sorted(
    sections._SERVER_KEYS | sections._ROUTER_KEYS | sections._GENERAL_USED
    | sections._LITELLM_USED | sections._ROUTER_SETTINGS_USED | deployments._CORE
    | deployments._ENTRY_KEYS | {"threshold", "environment_variables", "credential_list",
                                 "include", "mock_response", "mock_latency_ms",
                                 "mock_token_delay_ms", "azure_ad_token"})


@pytest.mark.parametrize("key", SETTINGS)
def test_every_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in CONFIG_DOC, f"docs/config.md does not document `{key}`"


def test_example_config_validates_on_a_machine_without_keys() -> None:
    settings, issues = read_settings(ROOT / "config.example.yaml", environ={})
    assert settings is not None, [str(i) for i in issues]
    assert [i for i in issues if i.severity == "error"] == []


@pytest.mark.parametrize("command", [["serve"], ["config", "validate"], ["config", "show"],
                                     ["version"]])
def test_every_command_is_in_the_readme(command: list[str]) -> None:
    assert f"pllm {' '.join(command)}" in README
    if command == ["serve"]:
        help_text = subprocess.run([sys.executable, "-m", "pllm", "serve", "--help"],
                                   capture_output=True, text=True, check=True).stdout
        for option in ("--config", "--host", "--port", "--workers", "--db", "--demo", "--loop",
                       "--log-level"):
            assert option in help_text and option in README, option
