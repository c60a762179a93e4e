"""``python -m web``: run the gateway with settings from the environment (``WEB_*``, ``CRM_*``)."""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import ValidationError

from crm_connector import CrmSettings, describe_settings_error
from web.app import init_app
from web.settings import WebSettings


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings: ``/ws/chat?token=...`` carries a conversation token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = WebSettings()
    except ValidationError as exc:
        sys.exit(f"web gateway settings are incomplete or invalid:\n"
                 f"{describe_settings_error(exc, 'WEB_')}\n"
                 "(WEB_SESSION_SECRET is required; `crmbot up` generates one into var/)")
    app = init_app(settings, CrmSettings())
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                access_log_class=PathOnlyAccessLogger)


if __name__ == "__main__":
    main()
