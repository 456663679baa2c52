"""The crawl's archive: a gzipped WARC file plus the manifest that indexes it
(spiders/manifest.py: its events, and when a line is written).

A crawl writes through `ArchiveProcess`, which hands the records to a `CrawlArchive` in a
child process: building, compressing (gzip level 9) and writing them was a fifth of a crawl's
CPU on loopback, and there it runs beside the crawl instead of between its requests. Calls
cross to it in batches: one queue item per call cost the crawl 2 to 3 s per 10,000 pages in
wake-ups and system calls.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from spiders.manifest import Discovered, Failed, Fetched, ManifestWriter, Notice

WARC_NAME = "crawl.warc.gz"
# Scrapy hands over decoded bodies, so these headers no longer describe the stored payload.
_DROPPED_HEADERS = {b"content-encoding", b"transfer-encoding", b"content-length"}
# Calls per batch sent to the writer process; `ArchiveProcess.flush` sends a partial one.
BATCH = 32
# Batches waiting for the writer; when it falls behind, the crawl waits (bounded memory).
_PENDING = 16


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class CrawlArchive:
    def __init__(self, out_dir: Path, run_id: str, software: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.warc_path = out_dir / WARC_NAME
        self._warc: BinaryIO = open(self.warc_path, "wb")  # noqa: SIM115 - closed in close()
        self._manifest = ManifestWriter(out_dir)
        self._writer = WARCWriter(self._warc, gzip=True)
        self._writer.write_record(self._writer.create_warcinfo_record(
            WARC_NAME, {"software": software, "run-id": run_id,
                        "format": "WARC File Format 1.0"}))

    def discovered(self, url: str, at: str | None = None, **listing: Any) -> None:
        self._manifest.write(Discovered(url=url, at=at or now_iso(), **listing))

    def fetched(self, url: str, requested: str, kind: str, status: int, reason: str,
                headers: list[tuple[bytes, bytes]], body: bytes, attempts: int = 1,
                note: str | None = None, at: str | None = None) -> None:
        kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
                if k.lower() not in _DROPPED_HEADERS]
        kept.append(("Content-Length", str(len(body))))
        http_headers = StatusAndHeaders(f"{status} {reason}".strip(), kept, protocol="HTTP/1.1")
        fetched_at = at or now_iso()
        record = self._writer.create_warc_record(
            url, "response", payload=BytesIO(body), http_headers=http_headers,
            warc_headers_dict={"WARC-Date": fetched_at[:19] + "Z"})
        offset = self._warc.tell()
        self._writer.write_record(record)
        self._warc.flush()
        named = {k.lower(): v for k, v in kept
                 if k.lower() in ("etag", "last-modified", "content-type")}
        self._manifest.write(Fetched(
            url=url, requested=requested, kind=kind, status=status, at=fetched_at,
            etag=named.get("etag"), last_modified=named.get("last-modified"),
            content_type=named.get("content-type"), attempts=attempts, note=note,
            warc=WARC_NAME, offset=offset, length=self._warc.tell() - offset, bytes=len(body)))

    def failed(self, url: str, kind: str, error: str, attempts: int = 1,
               at: str | None = None) -> None:
        self._manifest.write(Failed(url=url, kind=kind, error=error, at=at or now_iso(),
                                    attempts=attempts))

    def notice(self, what: str, url: str, at: str | None = None) -> None:
        self._manifest.write(Notice(what=what, url=url, at=at or now_iso()))

    def close(self) -> None:
        self._warc.close()
        self._manifest.close()


class ArchiveError(OSError):
    """The archive writer process failed; its traceback is in the crawl's log."""


class ArchiveProcess:
    """A `CrawlArchive` in a child process, with the same calls; each call returns at once,
    stamped with the time it was made. Calls are sent in batches of `BATCH`; `flush` sends
    what waits (the spider calls it twice a second, so a slow crawl's manifest stays current).
    `close` returns once everything is written.

    A dead writer is noticed when the queue stays full (asking after it on every call cost a
    system call a page): `on_failure` is called once, so the crawl can stop, and later calls
    are dropped. `close` raises ArchiveError if the writer failed.
    """

    def __init__(self, out_dir: Path, run_id: str, software: str,
                 on_failure: Callable[[ArchiveError], None]) -> None:
        # fork: the child needs nothing imported; it starts with the spider, before any request.
        context = multiprocessing.get_context("fork")
        self._calls: multiprocessing.Queue[list[tuple[str, dict[str, Any]]] | None] = \
            context.Queue(_PENDING)
        self._process = context.Process(
            target=_write_calls, args=(self._calls, out_dir, run_id, software, os.getpid()),
            name="archive-writer", daemon=True)
        self._process.start()
        self._on_failure = on_failure
        self._batch: list[tuple[str, dict[str, Any]]] = []
        self.failure: ArchiveError | None = None

    def _call(self, method: str, **arguments: Any) -> None:
        self._batch.append((method, {**arguments, "at": now_iso()}))
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the calls made since the last batch."""
        batch, self._batch = self._batch, []
        while self.failure is None and batch:
            try:
                self._calls.put(batch, timeout=1)
                return
            except queue.Full:
                if not self._process.is_alive():
                    self.failure = self._exited()
                    # What is queued has no reader now: do not wait for it at exit.
                    self._calls.cancel_join_thread()
                    self._on_failure(self.failure)

    def _exited(self) -> ArchiveError:
        return ArchiveError(f"the archive writer exited with code {self._process.exitcode}")

    def discovered(self, url: str, **listing: Any) -> None:
        self._call("discovered", url=url, **listing)

    def fetched(self, url: str, requested: str, kind: str, status: int, reason: str,
                headers: list[tuple[bytes, bytes]], body: bytes, attempts: int = 1,
                note: str | None = None) -> None:
        self._call("fetched", url=url, requested=requested, kind=kind, status=status,
                   reason=reason, headers=headers, body=body, attempts=attempts, note=note)

    def failed(self, url: str, kind: str, error: str, attempts: int = 1) -> None:
        self._call("failed", url=url, kind=kind, error=error, attempts=attempts)

    def notice(self, what: str, url: str) -> None:
        self._call("notice", what=what, url=url)

    def close(self) -> None:
        self.flush()
        if self._process.is_alive():
            self._calls.put(None)
            self._process.join()
        if self._process.exitcode != 0:
            self._calls.cancel_join_thread()
            raise self.failure or self._exited()


def _write_calls(calls: multiprocessing.Queue[list[tuple[str, dict[str, Any]]] | None],
                 out_dir: Path, run_id: str, software: str, crawl_pid: int) -> None:
    """The writer process: apply the calls in order until told to close, or the crawl died."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the crawl, which closes us
    archive = CrawlArchive(out_dir, run_id, software)
    try:
        while os.getppid() == crawl_pid:  # else the crawl was killed: stop writing at once
            try:
                batch = calls.get(timeout=1)
            except queue.Empty:
                continue
            if batch is None:
                return
            for method, arguments in batch:
                getattr(archive, method)(**arguments)
    finally:
        archive.close()

