"""What the drift and performance functions share: one windowed job submitted by a timer or on request, with the
same logging, retries and HTTP status codes (their modules' docstrings list them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import azure.functions as func

from shared.payloads import PayloadError
from shared.ports import CorruptDocumentError, PlatformError, TransientError
from shared.settings_parsing import SettingsError
from shared.triggers.http import error_response, json_response

RETRY_AFTER_SECONDS = 60


class WindowJobOutcome(Protocol):
    @property
    def decision(self) -> Any: ...
    @property
    def job_name(self) -> str | None: ...
    @property
    def model_name(self) -> str: ...
    @property
    def model_version(self) -> str | None: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime: ...
    @property
    def message(self) -> str: ...
    def body(self) -> dict[str, Any]: ...


def submit_on_timer(function: str, job: str, submit: Callable[[], WindowJobOutcome], log: logging.Logger) -> None:
    """Run ``submit`` for a timer: a transient failure is raised (the host retries; a retry never submits a second
    job), an unreadable state document too (the invocation shows as failed); a refusal is logged."""
    try:
        outcome = submit()
    except SettingsError as exc:
        log.error("%s: configuration error, nothing submitted: %s", function, exc)
        return
    except TransientError as exc:
        log.warning("%s: temporarily unavailable (the host retries; never a second job): %s", function, exc)
        raise
    except CorruptDocumentError as exc:
        log.error("%s: nothing submitted: %s", function, exc)
        raise
    except PlatformError as exc:
        log.error("%s: the ML platform refused the %s job: %s", function, job, exc)
        return
    log.info(
        "%s: %s job=%s model=%s:%s window=[%s, %s) %s",
        function,
        outcome.decision,
        outcome.job_name,
        outcome.model_name,
        outcome.model_version,
        outcome.window_start.isoformat(),
        outcome.window_end.isoformat(),
        outcome.message,
    )


def submit_on_request(
    function: str,
    job: str,
    submit: Callable[[], WindowJobOutcome],
    status: Callable[[Any], int],
    log: logging.Logger,
) -> func.HttpResponse:
    """Run ``submit`` (which parses the body first) for an HTTP request and map what happened to the answer."""
    try:
        outcome = submit()
    except PayloadError as exc:
        return error_response(400, str(exc), field=exc.field)
    except SettingsError as exc:
        log.error("%s: configuration error: %s", function, exc)
        return error_response(500, str(exc), setting=exc.name)
    except TransientError as exc:
        body = {"error": f"temporarily unavailable; retry later (a retry never submits a second job): {exc}"}
        return json_response(503, body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    except CorruptDocumentError as exc:
        log.error("%s: %s", function, exc)
        return error_response(500, str(exc), document=exc.key)
    except PlatformError as exc:
        return error_response(502, f"the ML platform refused the {job} job: {exc}")
    except Exception:  # a bug: answer with JSON and keep the stack trace in the log
        log.exception("%s: unexpected error", function)
        return error_response(500, "internal error; see the function's log")
    return json_response(status(outcome), outcome.body())
