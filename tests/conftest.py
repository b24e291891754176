"""Shared fixtures: mock upstreams and a real pllm server per test module or test."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mockups import MockUpstream
from server import PllmServer


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., PllmServer]]:
    started: list[PllmServer] = []

    def make(config: str | None = None, **kw: object) -> PllmServer:
        server = PllmServer(tmp_path, config, **kw)  # type: ignore[arg-type]
        started.append(server)
        return server.start()

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def openai_upstream() -> Iterator[MockUpstream]:
    with MockUpstream("openai", api_key="sk-upstream-openai-0123456789") as up:
        yield up
