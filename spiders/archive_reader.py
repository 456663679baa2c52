"""Reading WARC files back: every record whole, or an error that names the file and offset.

warcio reads what it is given: a file cut short yields its last record as if it were whole
(with part of the body), a record whose bytes were damaged fails with the raw bytes in the
message, and asking at an offset past the end raises a bare StopIteration. These readers check
each record's length against its `Content-Length` and its digests, when it has them, and turn
every such case into one `ArchiveReadError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders

# How much of warcio's message (which quotes what it read) an error repeats.
_QUOTED = 80
# The most a stored payload may decode to (the crawl's own limit is the profile's
# max_page_bytes, 5 MB by default).
MAX_DECODED = 32 * 2**20


class ArchiveReadError(ValueError):
    """A WARC file holds a record that cannot be read whole."""

    def __init__(self, path: Path, offset: int, what: str) -> None:
        super().__init__(f"{path}: the record at offset {offset} {what}")
        self.path, self.offset, self.what = path, offset, what

    def __reduce__(self) -> tuple[type[ArchiveReadError], tuple[Path, int, str]]:
        # It crosses from the extraction workers; the default would pass the message alone.
        return ArchiveReadError, (self.path, self.offset, self.what)


@dataclass(frozen=True)
class Response:
    """A response (or revisit) record: its file and offset, its URL, its HTTP status and
    Content-Type, and its payload as stored, which `body` decodes."""

    file: Path
    offset: int
    url: str
    status: int | None
    content_type: str | None
    rec_type: str  # "response", or "revisit" (a 304; in others' archives, a repeated payload)
    warc_date: str | None  # when it was fetched (WARC-Date)
    stored: bytes = field(repr=False)
    http_headers: StatusAndHeaders | None = field(repr=False)

    @cached_property
    def body(self) -> bytes:
        """The payload as the server meant it, without its Content-Encoding and chunking,
        decoded as warcio decodes it; at most `MAX_DECODED` bytes (a gzip bomb is archived
        as it came, and must not inflate in whoever reads it)."""
        record = ArcWarcRecord("warc", self.rec_type, None, BytesIO(self.stored),
                               self.http_headers, None, len(self.stored))
        try:
            decoded: bytes = record.content_stream().read(MAX_DECODED + 1)
        except Exception as error:  # zlib.error, brotli.error, ...: bytes that do not decode
            raise ArchiveReadError(self.file, self.offset,
                                   f"does not decode: {type(error).__name__}") from error
        if len(decoded) > MAX_DECODED:
            raise ArchiveReadError(self.file, self.offset,
                                   f"decodes to more than {MAX_DECODED // 2**20} MiB")
        return decoded


def responses(path: Path) -> Iterator[Response]:
    """Every response and revisit record of the file, in order; raises at the first record
    that is not whole."""
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream, check_digests=True)
        while (read := _next(path, records)) is not None:
            if read.rec_type in ("response", "revisit"):
                yield read
        # A record cut inside its first gzip block ends warcio's reading with no error.
        size = path.stat().st_size
        if records.offset < size:
            raise ArchiveReadError(path, records.offset, f"is cut off: the {size - records.offset}"
                                                         " bytes at the end hold no whole record")


def read_payloads(path: Path, offsets: set[int]) -> Iterator[Response]:
    """The response records at `offsets` (from the manifest), in file order."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        for offset in sorted(offsets):
            if offset >= size:
                raise ArchiveReadError(path, offset, f"is missing: the file ends at {size} bytes")
            stream.seek(offset)
            read = _next(path, ArchiveIterator(stream, check_digests=True))
            if read is None or read.rec_type != "response":
                raise ArchiveReadError(path, offset, "is not a response record")
            yield read


def _next(path: Path, records: ArchiveIterator) -> Response | None:
    """The iterator's next record, read whole and checked (None at the end of the file).

    warcio's parser raises whatever its parsing of bad bytes runs into (ArchiveLoadFailed,
    zlib.error, EOFError, AttributeError, ValueError, ...): all of them mean the record is
    unreadable. Errors of the file itself (OSError) pass through.
    """
    try:
        record = next(records, None)
        if record is None:
            return None
        stored = record.raw_stream.read()  # reading it to its end checks the digests
    except OSError:
        raise
    except Exception as error:
        # warcio moves `offset` to a record's start before it parses it.
        raise _unreadable(path, records.offset, error) from error
    offset = records.offset
    declared = record.rec_headers.get_header("Content-Length") or ""
    if record.rec_type is None or not declared.strip().isdigit():
        # warcio reads a missing or unreadable Content-Length as 0: a record with no body.
        raise ArchiveReadError(path, offset, "has a header that is cut off or damaged (WARC-Type "
                                             f"{record.rec_type!r}, Content-Length {declared!r})")
    missing = getattr(record.raw_stream, "limit", 0)
    if missing:
        raise ArchiveReadError(path, offset, f"is truncated: {record.length - missing} of its "
                                             f"{record.length} bytes are in the file")
    checker = record.digest_checker
    if checker is not None and checker.passed is False:
        raise ArchiveReadError(path, offset, "fails its digest: "
                                             + "; ".join(map(str, checker.problems)))
    headers = record.http_headers
    status = headers.get_statuscode() if headers and record.rec_type != "request" else None
    return Response(file=path, offset=offset, url=record.rec_headers.get_header("WARC-Target-URI"),
                    status=int(status) if status and status.isdigit() else None,
                    content_type=headers.get_header("Content-Type") if headers else None,
                    rec_type=record.rec_type,
                    warc_date=record.rec_headers.get_header("WARC-Date"), stored=stored,
                    http_headers=headers)


def _unreadable(path: Path, offset: int, error: Exception) -> ArchiveReadError:
    """The error for bytes that are not a WARC record; what was read is quoted, escaped."""
    read = "".join(ch if ch.isascii() and ch.isprintable() else ascii(ch)[1:-1]
                   for ch in str(error) or type(error).__name__)
    return ArchiveReadError(path, offset, "is not a readable WARC record: "
                                          + read[:_QUOTED] + ("…" if len(read) > _QUOTED else ""))
