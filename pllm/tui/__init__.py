"""`pllm tui`: a terminal dashboard for a running gateway (Textual). It reads the admin API
over HTTP only (`client.py`), never the database, so it watches a remote gateway as well as a
local one. `app.py` is the App; one module per pane; `fmt.py` formats numbers."""

from __future__ import annotations

__all__ = ["run"]


def run(url: str, key: str | None) -> None:
    """Run the dashboard against the gateway at `url` until the user quits."""
    from pllm.tui.app import PllmTui
    from pllm.tui.client import AdminClient

    PllmTui(AdminClient(url, key)).run()
