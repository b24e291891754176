"""Config loading: LiteLLM's format, pllm's sections, and errors that point at file:line:col."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pllm.config import load_settings, read_settings
from pllm.config.model import Secret, Settings
from pllm.errors import ConfigError, Issue

FIXTURES = Path(__file__).parent.parent / "fixtures" / "litellm"
ENV = {"OPENAI_API_KEY": "sk-env-openai-123456", "AZURE_API_KEY": "az-env-key-123456"}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), environ=ENV if env is None else env)


def errors(tmp_path: Path, text: str, env: dict[str, str] | None = None,
           **kw: bool) -> list[Issue]:
    settings, issues = read_settings(write(tmp_path, text), environ=ENV if env is None else env,
                                     **kw)
    found = [i for i in issues if i.severity == "error"]
    assert settings is None or not found
    return found


def test_litellm_quickstart_from_its_docs_validates_unchanged() -> None:
    # docs/my-website/docs/proxy/configs.md, "Quick Start" (BerriAI/litellm), byte for byte.
    env = {"AZURE_API_KEY_EU": "eu-key-123456", "AZURE_API_KEY_CA": "ca-key-123456",
           "AZURE_API_BASE": "https://res.openai.azure.com", **ENV}
    settings, issues = read_settings(FIXTURES / "quickstart.yaml", environ=env)
    assert settings is not None, [str(i) for i in issues]
    assert settings.model_names() == ["gpt-4o", "bedrock-claude-v1", "anthropic-claude",
                                      "vllm-models", "*"]
    gpt4o = [d for d in settings.deployments if d.model_name == "gpt-4o"]
    assert [d.model for d in gpt4o] == ["gpt-4o-eu", "gpt-4o-ca"]
    assert gpt4o[0].api_key == Secret("eu-key-123456") and gpt4o[0].rpm == 6
    vllm = next(d for d in settings.deployments if d.model_name == "vllm-models")
    assert (vllm.provider, vllm.model) == ("openai", "facebook/opt-125m")
    assert vllm.model_info["version"] == 2
    star = [d for d in settings.deployments if d.model_name == "*"]
    assert {d.provider for d in star} == {"openai", "azure"}, "one per provider key in the env"
    assert settings.server.master_key == Secret("sk-1234")
    assert settings.server.drop_params is True
    warned = {i.path for i in issues}
    assert "litellm_settings.success_callback" in warned and "general_settings.alerting" in warned


def test_litellm_load_balancing_example(tmp_path: Path) -> None:
    settings, issues = read_settings(FIXTURES / "load_balancing.yaml", environ={})
    assert settings is not None, [str(i) for i in issues]
    assert settings.router.strategy == "weighted"
    assert settings.router.retries == 2, "router_settings wins over litellm_settings"
    assert settings.router.timeout == 30
    assert settings.router.fallbacks == {"zephyr-beta": ("gpt-4o",)}
    assert settings.router.context_window_fallbacks == {
        "zephyr-beta": ("gpt-3.5-turbo-16k",), "gpt-4o": ("gpt-3.5-turbo-16k",)}
    assert settings.router.model_group_alias == {"gpt-4": "gpt-4o"}
    assert settings.server.request_timeout == 10
    assert [d.rpm for d in settings.deployments][:3] == [60, 600, 60000]
    bare = next(d for d in settings.deployments if d.model_name == "gpt-3.5-turbo-16k")
    assert bare.provider == "openai", "bare gpt-* names belong to openai"


def test_docs_example_with_a_placeholder_api_base_is_rejected_precisely() -> None:
    settings, issues = read_settings(FIXTURES / "model_params.yaml", environ={})
    assert settings is None
    [issue] = [i for i in issues if i.severity == "error"]
    assert (issue.line, issue.column) == (26, 17)
    assert issue.path == "model_list[3].litellm_params.api_base"
    assert "http(s) URL" in issue.message


def test_unquoted_star_gets_a_hint() -> None:
    settings, issues = read_settings(FIXTURES / "multiple_orgs.yaml", environ=ENV)
    assert settings is None
    assert (issues[0].line, issues[0].column) == (1, 18)
    assert 'quote it, e.g. model_name: "*"' in issues[0].message


def test_every_error_is_reported_with_its_position(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        model_list:
          - model_name: gpt-4o
            litellm_params:
              model: opena/gpt-4o
              api_bse: http://x
          - model_name: b
            litellm_params:
              model: openai/gpt-4o
              rpm: lots
        router:
          strategy: fastest
        """)
    by_path = {i.path: i for i in found}
    assert set(by_path) == {"model_list[0].litellm_params.model",
                            "model_list[0].litellm_params.api_bse",
                            "model_list[1].litellm_params.rpm", "router.strategy"}
    model = by_path["model_list[0].litellm_params.model"]
    assert (model.line, model.column) == (4, 14)
    assert str(model).endswith("config.yaml:4:14: model_list[0].litellm_params.model: unknown "
                               "provider 'opena' (did you mean 'openai'?)")
    assert "did you mean 'api_base'" in by_path["model_list[0].litellm_params.api_bse"].message
    assert (by_path["model_list[1].litellm_params.rpm"].line) == 9


def test_missing_env_var_is_an_error_naming_it(tmp_path: Path) -> None:
    text = """
        model_list:
          - model_name: m
            litellm_params:
              model: openai/gpt-4o
              api_key: os.environ/MY_SECRET_KEY
              api_base: https://example.invalid/${MY_REGION}/v1
        """
    found = errors(tmp_path, text)
    assert [i.message for i in found] == ["environment variable MY_SECRET_KEY is not set",
                                          "environment variable MY_REGION is not set"]
    assert found[0].line == 5
    settings, issues = read_settings(tmp_path / "config.yaml", environ=ENV,
                                     allow_missing_env=True)
    assert settings is not None and all(i.severity == "warning" for i in issues)


def test_env_references_resolve(tmp_path: Path) -> None:
    settings = load(tmp_path, """
        model_list:
          - model_name: m
            litellm_params:
              model: openai/gpt-4o
              api_key: os.environ/MY_KEY
              api_base: https://${HOST:-api.example.com}/v1
              rpm: ${RPM}
        """, env={"MY_KEY": "sk-from-env-000", "RPM": "42"})
    dep = settings.deployments[0]
    assert dep.api_key == Secret("sk-from-env-000")
    assert dep.api_base == "https://api.example.com/v1"
    assert dep.rpm == 42


def test_dotenv_beside_the_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOTENV_ONLY_KEY", raising=False)
    (tmp_path / ".env").write_text("DOTENV_ONLY_KEY=sk-dotenv-123456\n")
    path = write(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: openai/gpt-4o, api_key: os.environ/DOTENV_ONLY_KEY}
        """)
    assert load_settings(path).deployments[0].api_key == Secret("sk-dotenv-123456")


def test_environment_variables_section(tmp_path: Path) -> None:
    settings = load(tmp_path, """
        environment_variables:
          SECTION_KEY: sk-section-123456
        model_list:
          - model_name: m
            litellm_params: {model: openai/gpt-4o, api_key: os.environ/SECTION_KEY}
        """)
    assert settings.deployments[0].api_key == Secret("sk-section-123456")
    assert settings.environment["SECTION_KEY"] == "sk-section-123456"


def test_includes_and_credentials(tmp_path: Path) -> None:
    write(tmp_path, """
        model_list:
          - model_name: included
            litellm_params:
              model: azure/dep-a
              litellm_credential_name: azure_main
        """, name="models.yaml")
    settings = load(tmp_path, """
        include:
          - models.yaml
        credential_list:
          - credential_name: azure_main
            credential_values:
              api_key: os.environ/AZURE_API_KEY
              api_base: https://res.openai.azure.com
              api_version: "2024-10-21"
            credential_info: {description: main}
        model_list:
          - model_name: local
            litellm_params: {model: openai/gpt-4o}
        """)
    assert settings.model_names() == ["local", "included"]
    inc = settings.deployments[1]
    assert inc.api_base == "https://res.openai.azure.com" and inc.api_version == "2024-10-21"
    assert inc.origin.file is not None and inc.origin.file.endswith("models.yaml")


def test_include_errors_point_into_the_included_file(tmp_path: Path) -> None:
    write(tmp_path, "model_list:\n  - model_name: x\n    litellm_params: {model: nope/x}\n",
          name="more.yaml")
    found = errors(tmp_path, "include: [more.yaml, missing.yaml]\n")
    assert any(i.file and i.file.endswith("more.yaml") and i.line == 3 for i in found)
    assert any("missing.yaml" in i.message for i in found)


def test_pllm_sections_and_entry_fields(tmp_path: Path) -> None:
    settings = load(tmp_path, """
        model_list:
          - model_name: gpt-4o
            priority: 2
            weight: 3
            litellm_params: {model: openai/gpt-4o, order: 1, timeout: 12, stream_timeout: 5}
          - model_name: gpt-4o
            deployments:
              - {model: azure/gpt4o-eu, api_base: "https://eu.openai.azure.com"}
              - {model: azure/gpt4o-us, api_base: "https://us.openai.azure.com", weight: 2}
        router:
          strategy: latency-based-routing
          retries: 4
          timeout: 20
          fallbacks: {gpt-4o: [gpt-4o-mini, claude]}
          circuit_breaker: {threshold: 3, timeout: 15}
        server:
          port: 9999
          max_request_size_mb: 2
        """)
    first = settings.deployments[0]
    assert (first.priority, first.weight, first.order, first.timeout) == (2, 3.0, 1, 12.0)
    assert [d.model for d in settings.deployments[1:]] == ["gpt4o-eu", "gpt4o-us"]
    assert settings.deployments[2].weight == 2
    assert settings.router.strategy == "latency_based"
    assert settings.router.retries == 4
    assert settings.router.fallbacks == {"gpt-4o": ("gpt-4o-mini", "claude")}
    assert (settings.router.circuit_breaker.threshold,
            settings.router.circuit_breaker.timeout) == (3, 15)
    assert settings.server.port == 9999
    assert settings.server.max_request_bytes == 2 * 1024 * 1024
    assert len({d.id for d in settings.deployments}) == 3


def test_organizations_expand_and_ids_are_stable(tmp_path: Path) -> None:
    text = """
        model_list:
          - model_name: "openai/*"
            litellm_params:
              model: "openai/*"
              organization: [org-1, org-2, org-3]
        """
    first = load(tmp_path, text)
    assert [d.organization for d in first.deployments] == ["org-1", "org-2", "org-3"]
    assert [d.id for d in first.deployments] == [d.id for d in load(tmp_path, text).deployments]


def test_inline_json_and_odd_indentation_are_yaml(tmp_path: Path) -> None:
    settings = load(tmp_path, """
        model_list:
        - model_name: a
          litellm_params: {"model": "openai/gpt-4o", "extra_headers": {"X-Team": "ml"}}
        - model_name:   b
          litellm_params:
                model: openai/gpt-4o-mini
                temperature: 0.2
        """)
    assert settings.deployments[0].extra_headers == {"X-Team": "ml"}
    assert settings.deployments[1].defaults == {"temperature": 0.2}


def test_tabs_and_type_errors(tmp_path: Path) -> None:
    found = errors(tmp_path, "model_list:\n\t- model_name: a\n")
    assert "tabs" in found[0].message and found[0].line == 2
    found = errors(tmp_path, "model_list: {model_name: a}\n")
    assert found[0].message == "expected a list, got a mapping"


def test_missing_provider_key_names_the_variable(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: groq/llama-3.1-8b-instant}
        """, env={})
    assert found[0].message == "no api_key given and GROQ_API_KEY is not set"


def test_bare_names_need_a_known_provider(tmp_path: Path) -> None:
    found = errors(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: my-fancy-model}
        """)
    assert "write it as '<provider>/my-fancy-model'" in found[0].message


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    settings = load(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: openai/gpt-4o, api_key: sk-very-secret-value-123456}
        general_settings: {master_key: sk-master-secret-value-9876}
        """)
    text = repr(settings)
    assert "sk-very-secret-value-123456" not in text
    assert "sk-master-secret-value-9876" not in text


def test_no_config_discovers_from_the_environment() -> None:
    settings = load_settings(None, environ={
        "OPENAI_API_KEY": "sk-a-0000000000", "OPENAI_API_KEY_2": "sk-b-0000000000",
        "OPENAI_API_KEY_3": "sk-c-0000000000", "GROQ_API_KEY": "gsk-0000000000",
        "AZURE_API_KEY": "az-000000000", "ANTHROPIC_API_KEY": "sk-ant-000000000",
        "PLLM_MASTER_KEY": "sk-master-000000"})
    by_provider: dict[str, int] = {}
    for d in settings.deployments:
        by_provider[d.provider] = by_provider.get(d.provider, 0) + 1
    assert by_provider == {"openai": 3, "anthropic": 1, "groq": 1}
    assert any("AZURE_API_BASE is not set" in n for n in settings.notes)
    assert any("OPENAI_API_KEY, OPENAI_API_KEY_2, OPENAI_API_KEY_3" in n for n in settings.notes)
    assert settings.server.master_key == Secret("sk-master-000000")


def test_config_error_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "model_list: [{model_name: a}, {model_name: b}]\n")
    assert len([i for i in e.value.issues if i.severity == "error"]) == 2


def test_database_url_from_server_wins_over_general_settings(tmp_path: Path) -> None:
    s = load(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: mock/m}
        general_settings: {database_url: "sqlite:///general.db"}
        server: {database_url: "sqlite:///server.db"}
    """)
    assert s.server.database_url == "sqlite:///server.db"
    s = load(tmp_path, """
        model_list:
          - model_name: m
            litellm_params: {model: mock/m}
        general_settings: {database_url: "sqlite:///general.db"}
    """)
    assert s.server.database_url == "sqlite:///general.db"
