"""Why a request ended without a usable answer, in words a data team can act on."""

from __future__ import annotations

from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

# (exception type, phrase in its message or "", what it means), first match wins.
_REASONS: tuple[tuple[type[BaseException], str, str], ...] = (
    (DownloadTimeoutError, "", "timed out"),
    (IgnoreRequest, "robots.txt", "disallowed by robots.txt"),
    (IgnoreRequest, "max redirections", "too many redirects (a redirect loop?)"),
    (IgnoreRequest, "DOWNLOAD_MAXSIZE", "too large once decompressed"),
    (DownloadCancelledError, "max size", "too large"),
    (DownloadConnectionRefusedError, "", "connection refused"),
    (ResponseDataLossError, "", "connection closed before the whole page arrived"),
    (ConnectionLost, "", "connection lost"),
    (ConnectionDone, "", "connection closed"),
    (DownloadFailedError, "", "download failed (connection reset?)"),
)


def failure_reason(failure: Failure) -> str:
    """"<what it means>: <Type>: <message>", or "<Type>: <message>" for the unforeseen."""
    detail = f"{failure.type.__name__}: {failure.getErrorMessage()}"
    for kind, phrase, meaning in _REASONS:
        if failure.check(kind) and phrase.lower() in failure.getErrorMessage().lower():
            return f"{meaning}: {detail}"
    return detail
