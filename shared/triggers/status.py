"""`status`: HTTP GET returning what the state store holds (a rejected alert body as an excerpt: see
`read_status`).

| outcome | status |
| --- | --- |
| the documents (a section whose document is unreadable shows ``unreadable``, ``document`` and ``error``) | 200 |
| the state store unavailable | 503 |
| the state store refused (forbidden, …) | 502 |
| a setting missing or malformed | 500 naming the setting |
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.context import get_context
from shared.ports import PlatformError, TransientError
from shared.services.status import read_status
from shared.settings_parsing import SettingsError
from shared.triggers.http import error_response, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("status")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    try:
        return json_response(200, read_status(get_context().state_store()))
    except SettingsError as exc:
        log.error("status: configuration error: %s", exc)
        return error_response(500, str(exc), setting=exc.name)
    except TransientError as exc:
        log.warning("status: state store unavailable: %s", exc)
        return error_response(503, f"state store unavailable: {exc}")
    except PlatformError as exc:
        log.error("status: state store error: %s", exc)
        return error_response(502, f"state store error: {exc}")
