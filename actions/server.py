"""The action server in one process: ``python -m actions.server --host H --port P``.

It serves rasa-sdk's own app (``rasa_sdk.endpoint.create_app``: ``/webhook``, ``/actions``,
``/health``) with every action of this package. ``python -m rasa_sdk --actions actions``
serves the same app through Sanic's process manager: a primary process plus a worker that
imports all the actions again, and Sanic stops both when the worker has not started within
30 s. On a loaded 2-core machine importing torch, FAISS, scikit-learn and SQLAlchemy took
longer than that, and the server never came up. One process imports once, has no start-up
deadline and half the memory; with ``ACTIONS_PRELOAD_FAQ=true`` it loads the FAQ retriever
in the background once it serves.
"""

from __future__ import annotations

import argparse
import logging

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from actions.context import get_context, start_faq_preload

log = logging.getLogger(__name__)


def build_app() -> Sanic:
    """rasa-sdk's app with this package's actions; the FAQ preload starts once it serves."""
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor)

    async def preload(_app: Sanic) -> None:
        start_faq_preload(get_context())

    app.register_listener(preload, "after_server_start")
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the action server (one process).")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)-8s %(name)s - %(message)s")
    log.info("action server on http://%s:%s", args.host, args.port)
    build_app().run(host=args.host, port=args.port, single_process=True, access_log=False,
                    motd=False)


if __name__ == "__main__":
    main()
