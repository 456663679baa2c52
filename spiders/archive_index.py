"""The archive's index: a CDXJ file beside each WARC file, as pywb and other replay tools and
pipelines read it.

One line per response and revisit record, sorted by SURT URL key and timestamp, with
the record's offset and length in the file: a replay tool finds a capture without reading the
archive. It is made by webrecorder's cdxj-indexer, the indexer pywb's own tools use, when the
crawl's archive is closed (spiders/archive.py); `newscorpus archive index` rebuilds it for an
archive that has none (written before indexes were, or by a crawl that was killed).
"""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

# The records indexed: what a replay tool looks a capture up by. Not the request records: pywb
# takes a request's line for the capture, and fails to replay it (tests/test_replay.py).
_RECORDS = "response,revisit"


def index_path(warc: Path) -> Path:
    """`crawl.warc.gz` -> `crawl.cdxj`, in the same folder."""
    return warc.with_name(warc.name.removesuffix(".gz").removesuffix(".warc") + ".cdxj")


def index_lines(warc: Path) -> list[str]:
    """The sorted CDXJ lines of `warc`, computed from the file."""
    from cdxj_indexer.main import CDXJIndexer  # 0.3 s of imports: not in every crawl's start

    out = StringIO()
    CDXJIndexer(output=out, inputs=[str(warc)], sort=True, records=_RECORDS).process_all()
    return out.getvalue().splitlines()


def write_index(warc: Path) -> int:
    """Index `warc` into its CDXJ file, replacing it whole (never a half-written index);
    returns the number of lines."""
    target = index_path(warc)
    partial = target.with_name(target.name + ".partial")
    lines = index_lines(warc)
    partial.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(partial, target)
    return len(lines)


def index_problem(warc: Path) -> str | None:
    """Why the WARC's index does not match the file, or None."""
    target = index_path(warc)
    if not target.exists():
        return f"{target}: missing (`newscorpus archive index` writes it)"
    held = target.read_text(encoding="utf-8").splitlines()
    made = index_lines(warc)
    if held == made:
        return None
    differ = sum(a != b for a, b in zip(held, made, strict=False)) + abs(len(held) - len(made))
    return f"{target}: {differ} of its {len(held)} lines differ from the WARC's records " \
           "(`newscorpus archive index` rewrites it)"
