"""The HTTP server: a Quart app (`create_app`) run by Hypercorn (`run.serve`)."""

from pllm.server.app import create_app

__all__ = ["create_app"]
