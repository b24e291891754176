"""`pllm bench`: a load generator for any OpenAI-compatible endpoint.

`spec` (what to send, argument checks), `http` (a lean HTTP/1.1 keep-alive client on asyncio
protocols), `load` (one process's connections), `pool` (load processes, started together,
histograms merged), `stats` and `histogram` (what was measured), `runner` (rounds, warm-up,
comparison), `report` (live line, table, JSON), `mockserver` and `harness` (`--mock`: a fast
mock upstream and a `pllm serve` in front of it, as subprocesses). A client tool: it talks to
gateways over HTTP only and imports nothing of the server.
"""
