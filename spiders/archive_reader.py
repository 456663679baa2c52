"""Reading WARC files back: every record whole, or an error that names the file and offset.

warcio reads what it is given: a file cut short yields its last record as if it were whole
(with part of the body), a record whose bytes were damaged fails with the raw bytes in the
message, and asking at an offset past the end raises a bare StopIteration. These readers check
each record's length against its `Content-Length` and its digests, when it has them, and turn
every such case into one `ArchiveReadError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

# How much of warcio's message (which quotes what it read) an error repeats.
_QUOTED = 80


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
    """A response record: its URL, where it starts, its Content-Type and its payload."""

    url: str
    offset: int
    content_type: str | None
    body: bytes


def responses(path: Path) -> Iterator[Response]:
    """Every response record of the file, in order; raises at the first one not whole."""
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream, check_digests=True)
        while (read := _next(path, records)) is not None:
            if read.rec_type == "response":
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


@dataclass(frozen=True)
class _Record(Response):
    rec_type: str


def _next(path: Path, records: ArchiveIterator) -> _Record | None:
    """The iterator's next record, read whole and checked (None at the end of the file).

    warcio's parser raises whatever its parsing of bad bytes runs into (ArchiveLoadFailed,
    zlib.error, EOFError, AttributeError, ValueError, ...): all of them mean the record is
    unreadable. Errors of the file itself (OSError) pass through.
    """
    try:
        record = next(records, None)
        if record is None:
            return None
        body = record.content_stream().read()
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
    return _Record(url=record.rec_headers.get_header("WARC-Target-URI"), offset=offset,
                   content_type=headers.get_header("Content-Type") if headers else None,
                   body=body, rec_type=record.rec_type)


def _unreadable(path: Path, offset: int, error: Exception) -> ArchiveReadError:
    """The error for bytes that are not a WARC record; what was read is quoted, escaped."""
    read = "".join(ch if ch.isascii() and ch.isprintable() else ascii(ch)[1:-1]
                   for ch in str(error) or type(error).__name__)
    return ArchiveReadError(path, offset, "is not a readable WARC record: "
                                          + read[:_QUOTED] + ("…" if len(read) > _QUOTED else ""))
