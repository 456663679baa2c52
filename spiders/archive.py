"""The crawl's archive: a gzipped WARC file, the manifest that says what each URL came to
(spiders/manifest.py: its events, and when a line is written), and a CDXJ index of the WARC
for replay tools (spiders/archive_index.py). Every exchange is archived as it crossed the
wire, redirects and retried answers too (spiders/capture.py).

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
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from spiders.archive_index import write_index
from spiders.manifest import Discovered, Failed, Fetched, ManifestWriter, Notice

WARC_NAME = "crawl.warc.gz"
# Scrapy hands over the body without its chunking, so these describe bytes no longer stored;
# Content-Length is set to the payload as stored. Content-Encoding stays: the payload is as
# sent, and readers decode it (spiders/archive_reader.py).
_DROPPED_HEADERS = {b"transfer-encoding", b"content-length"}
# A 304 is archived as a revisit record of this profile (WARC 1.0, which warcio writes).
NOT_MODIFIED = "http://netpreserve.org/warc/1.0/revisit/server-not-modified"
# Calls per batch sent to the writer process; `ArchiveProcess.flush` sends a partial one.
BATCH = 32
# Batches waiting for the writer; when it falls behind, the crawl waits (bounded memory).
_PENDING = 16


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class _Written:
    """Where an exchange's response record went, and what the manifest repeats of it."""

    offset: int
    length: int
    status: int
    headers: dict[str, str]  # ETag, Last-Modified and Content-Type, by lower-case name


class CrawlArchive:
    """Writes the WARC file and the manifest. An exchange's records are written when it
    happens; the manifest line for a URL when its final state is known, naming the record of
    its answer and those of its hops (`fetched`, `failed`)."""

    def __init__(self, out_dir: Path, run_id: str, software: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.warc_path = out_dir / WARC_NAME
        self._warc: BinaryIO = open(self.warc_path, "wb")  # noqa: SIM115 - closed in close()
        self._manifest = ManifestWriter(out_dir)
        self._writer = WARCWriter(self._warc, gzip=True)
        self._writer.write_record(self._writer.create_warcinfo_record(
            WARC_NAME, {"software": software, "run-id": run_id,
                        "format": "WARC File Format 1.0"}))
        self._written: dict[str, _Written] = {}  # record id -> its exchange, until named

    def discovered(self, url: str, at: str | None = None, **listing: Any) -> None:
        self._manifest.write(Discovered(url=url, at=at or now_iso(), **listing))

    def exchange(self, record: str, url: str, method: str,
                 request_headers: list[tuple[bytes, bytes]], request_body: bytes, status: int,
                 headers: list[tuple[bytes, bytes]], body: bytes, at: str | None = None) -> None:
        """One request and its answer as received: a response record (with the id `record`),
        or a revisit record for a 304, then the request record concurrent to it."""
        kept = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
                if k.lower() not in _DROPPED_HEADERS]
        kept.append(("Content-Length", str(len(body))))
        date = (at or now_iso())[:19] + "Z"
        warc_headers = {"WARC-Date": date, "WARC-Record-ID": record}
        answer = StatusAndHeaders(f"{status} {_reason(status)}".strip(), kept,
                                  protocol="HTTP/1.1")
        if status == 304:
            response = self._writer.create_warc_record(
                url, "revisit", http_headers=answer,
                warc_headers_dict={**warc_headers, "WARC-Profile": NOT_MODIFIED})
        else:
            response = self._writer.create_warc_record(
                url, "response", payload=BytesIO(body), http_headers=answer,
                warc_headers_dict=warc_headers)
        offset = self._warc.tell()
        self._writer.write_record(response)
        length = self._warc.tell() - offset
        self._writer.write_record(self._writer.create_warc_record(
            url, "request", payload=BytesIO(request_body),
            http_headers=_request_line(method, url, request_headers),
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": record}))
        self._warc.flush()
        named = {k.lower(): v for k, v in kept
                 if k.lower() in ("etag", "last-modified", "content-type")}
        self._written[record] = _Written(offset, length, status, named)

    def fetched(self, url: str, requested: str, kind: str, record: str, hops: list[str],
                size: int, attempts: int = 1, note: str | None = None,
                at: str | None = None) -> None:
        """`url`'s final answer is the exchange `record`, and `hops` came before it; `size`
        is its payload's length once decoded."""
        answer = self._written.pop(record)
        self._manifest.write(Fetched(
            url=url, requested=requested, kind=kind, status=answer.status, at=at or now_iso(),
            etag=answer.headers.get("etag"), last_modified=answer.headers.get("last-modified"),
            content_type=answer.headers.get("content-type"), attempts=attempts, note=note,
            warc=WARC_NAME, offset=answer.offset, length=answer.length, bytes=size,
            hops=self._hops(hops)))

    def failed(self, url: str, kind: str, error: str, hops: list[str], attempts: int = 1,
               at: str | None = None) -> None:
        self._manifest.write(Failed(url=url, kind=kind, error=error, at=at or now_iso(),
                                    attempts=attempts, hops=self._hops(hops)))

    def _hops(self, records: list[str]) -> list[int]:
        return [self._written.pop(record).offset for record in records]

    def notice(self, what: str, url: str, at: str | None = None) -> None:
        self._manifest.write(Notice(what=what, url=url, at=at or now_iso()))

    def close(self) -> None:
        """Close the files, and index the WARC (spiders/archive_index.py)."""
        self._warc.close()
        self._manifest.close()
        write_index(self.warc_path)


def _request_line(method: str, url: str, headers: list[tuple[bytes, bytes]]) -> StatusAndHeaders:
    """The request as sent: Scrapy's downloader adds the Host header on the wire."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    if not any(k.lower() == "host" for k, _ in sent):
        sent.insert(0, ("Host", parts.netloc))
    return StatusAndHeaders(f"{method} {target} HTTP/1.1", sent, is_http_request=True)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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

    def _call(self, name: str, **arguments: Any) -> None:
        self._batch.append((name, {**arguments, "at": now_iso()}))
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

    def exchange(self, record: str, url: str, method: str,
                 request_headers: list[tuple[bytes, bytes]], request_body: bytes, status: int,
                 headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._call("exchange", record=record, url=url, method=method,
                   request_headers=request_headers, request_body=request_body, status=status,
                   headers=headers, body=body)

    def fetched(self, url: str, requested: str, kind: str, record: str, hops: list[str],
                size: int, attempts: int = 1, note: str | None = None) -> None:
        self._call("fetched", url=url, requested=requested, kind=kind, record=record,
                   hops=hops, size=size, attempts=attempts, note=note)

    def failed(self, url: str, kind: str, error: str, hops: list[str],
               attempts: int = 1) -> None:
        self._call("failed", url=url, kind=kind, error=error, hops=hops, attempts=attempts)

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
    # The fork left us the queue's sending end too: closed, a crawl killed in the middle of
    # a batch ends our read of it (EOFError) instead of leaving it waiting for the rest.
    cast(Any, calls)._writer.close()
    archive = CrawlArchive(out_dir, run_id, software)
    try:
        while os.getppid() == crawl_pid:  # else the crawl was killed: stop writing at once
            try:
                batch = calls.get(timeout=1)
            except queue.Empty:
                continue
            except EOFError:  # the crawl died while sending
                return
            if batch is None:
                return
            for name, arguments in batch:
                getattr(archive, name)(**arguments)
    finally:
        archive.close()

