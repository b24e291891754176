"""`pllm bench`: load any OpenAI-compatible endpoint (pllm or not) and report what it did:
requests/s, latency percentiles, time to first token and inter-token latency for streams,
tokens/s, errors by status. `--compare URL2` measures a second endpoint in alternating rounds
and reports the difference; `--mock` starts a mock upstream and a pllm in front of it and
reports pllm's own overhead. The work is in `pllm.bench`; this is its command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

__all__ = ["bench"]

_HELP_KEY = "Bearer key for --url. (default: $PLLM_API_KEY)"


def bench(
    url: Annotated[str | None, typer.Option(
        help="Endpoint to load: a base URL (http://127.0.0.1:8080 or .../v1) or a full "
        ".../chat/completions or .../completions URL.")] = None,
    key: Annotated[str | None, typer.Option(help=_HELP_KEY, envvar="PLLM_API_KEY",
                                            show_envvar=False)] = None,
    model: Annotated[str, typer.Option(help="Model to ask for.")] = "gpt-4o-mini",
    concurrency: Annotated[int, typer.Option(
        "--concurrency", "-c", help="Connections, each with one request in flight.")] = 16,
    requests: Annotated[int | None, typer.Option(
        "--requests", "-n", help="Requests per round and endpoint. (default: 1000, or with "
        "--mock 3 s rounds)")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", "-d", help="Seconds per round and endpoint, instead of -n.")] = None,
    stream: Annotated[bool, typer.Option(
        help="Streamed answers: also time to first token and inter-token latency.")] = False,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt length, about.")] = 16,
    max_tokens: Annotated[int, typer.Option(help="max_tokens asked for.")] = 16,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (no live progress).")] = False,
    compare: Annotated[str | None, typer.Option(
        help="A second endpoint (e.g. the upstream itself), loaded in alternating rounds; "
        "the report gives the difference and ratio per metric.")] = None,
    compare_key: Annotated[str | None, typer.Option(
        help="Bearer key for --compare. (default: --key)")] = None,
    compare_model: Annotated[str | None, typer.Option(
        help="Model for --compare. (default: --model)")] = None,
    rounds: Annotated[int | None, typer.Option(
        help="Rounds per endpoint. (default: 1; 3 with --compare or --mock)")] = None,
    processes: Annotated[int | None, typer.Option(
        help="Load processes. (default: one per 256 connections, at most one per CPU)")
    ] = None,
    warmup: Annotated[int | None, typer.Option(
        help="Untimed requests per endpoint before the first round. (default: 0; 200 with "
        "--mock)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a request counts as timed "
                                           "out.")] = 60.0,
    mock: Annotated[bool, typer.Option(
        help="Start a mock upstream and a pllm in front of it (no keys, no network) and "
        "measure pllm's overhead.")] = False,
    mock_workers: Annotated[int, typer.Option(
        min=1, help="With --mock: pllm's --workers.")] = 1,
    mock_token_delay_ms: Annotated[float, typer.Option(
        min=0, help="With --mock: pace the mock's streams (ms per token).")] = 0.0,
) -> None:
    """Load an OpenAI-compatible endpoint and report throughput, latency and errors."""
    from rich.console import Console
    from rich.markup import escape

    from pllm.bench.spec import auto_processes, validate

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    problems = validate(url=url, mock=mock, compare=compare, requests=requests,
                        duration=duration, concurrency=concurrency, processes=processes,
                        rounds=rounds or 1, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                        timeout=timeout)
    if problems:
        for p in problems:
            err.print(f"[red]error:[/] {escape(p)}")
        raise typer.Exit(2)
    if requests is None and duration is None:
        duration, requests = (3.0, None) if mock else (None, 1000)
    two = mock or compare is not None
    settings: dict[str, Any] = {
        "concurrency": concurrency, "requests": requests, "duration_s": duration,
        "rounds": rounds or (3 if two else 1),
        "processes": processes or auto_processes(concurrency),
        "warmup": warmup if warmup is not None else (200 if mock else 0),
        "stream": stream, "prompt_tokens": prompt_tokens, "max_tokens": max_tokens,
        "timeout_s": timeout,
    }
    if mock:
        _run_mock(settings, mock_workers, mock_token_delay_ms, as_json, err)
    else:
        from pllm.bench.spec import Endpoint, Target

        assert url is not None
        targets = [Target("target", Endpoint.parse(url), key, model, "target")]
        if compare is not None:
            targets.append(Target("baseline", Endpoint.parse(compare),
                                  compare_key if compare_key is not None else key,
                                  compare_model or model, "baseline"))
        _run(targets, settings, as_json, err)


def _run_mock(settings: dict[str, Any], workers: int, token_delay_ms: float, as_json: bool,
              err: Any) -> None:
    from pllm.bench.harness import MockStack
    from pllm.bench.pool import BenchError

    if not as_json:
        err.print("[dim]starting a mock upstream and pllm serve in front of it…[/]")
    try:
        with MockStack(workers=workers, token_delay_ms=token_delay_ms) as stack:
            assert stack.gateway is not None and stack.direct is not None
            settings["mock"] = {"workers": workers, "token_delay_ms": token_delay_ms}
            _run([stack.gateway, stack.direct], settings, as_json, err)
    except BenchError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from None


def _run(targets: list[Any], settings: dict[str, Any], as_json: bool, err: Any) -> None:
    from rich.console import Console

    from pllm.bench.pool import BenchError
    from pllm.bench.report import LiveProgress, render, to_json
    from pllm.bench.runner import run_bench
    from pllm.bench.spec import Load, Workload

    workload = Workload(stream=settings["stream"], prompt_tokens=settings["prompt_tokens"],
                        max_tokens=settings["max_tokens"], timeout_s=settings["timeout_s"])
    load = Load(settings["concurrency"], settings["requests"], settings["duration_s"])
    config = {**settings, "targets": {t.name: {"url": t.endpoint.url, "model": t.model,
                                               "label": t.label} for t in targets},
              "workload": {"model": targets[0].model, "stream": workload.stream}}
    try:
        with LiveProgress(err, enabled=not as_json) as live:
            result = run_bench(targets, workload, load, rounds=settings["rounds"],
                               processes=settings["processes"], warmup=settings["warmup"],
                               on_phase=live.phase, on_progress=live.update)
    except BenchError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    if as_json:
        typer.echo(json.dumps(to_json(result, config)))
    else:
        render(result, config, Console(highlight=False))
    if not any(result.stats[t.name].ok for t in targets):
        raise typer.Exit(1)
