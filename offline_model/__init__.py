"""Graylab's offline model server: an OpenAI-compatible offline stand-in, not a real model.

Standalone asyncio code (aiohttp); it never imports Django. See :mod:`.server` for running it,
:mod:`.responses` for the deterministic text it answers with and :mod:`.grading` for the grades
it answers grading requests with.
"""

from offline_model.server import (
    DEFAULT_MODEL,
    MODEL_IDS,
    OfflineModelServer,
    ServerOptions,
    create_app,
    run_in_thread,
)

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_IDS",
    "OfflineModelServer",
    "ServerOptions",
    "create_app",
    "run_in_thread",
]
