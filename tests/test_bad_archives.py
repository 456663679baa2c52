"""#18: WARC files cut short, damaged or not WARC at all, read by `extract` and `reprocess`.

The archive is a real crawl of the demo site (the session's `two_runs`), cut and damaged here
as a full disk, a copy that stopped half-way or a bad sector would leave it.
"""

from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import sql_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import newscorpus
from test_incremental import checksums

from spiders.archive import WARC_NAME
from spiders.archive_reader import ArchiveReadError, Response, read_payloads, responses
from spiders.fetches import is_article_page
from spiders.manifest import Fetched, read_manifest


class Archive(dict[str, Any]):
    """A WARC file and what it holds; shown by its path alone (hypothesis prints it)."""

    def __repr__(self) -> str:
        return f"Archive({self['warc']})"


@pytest.fixture(scope="module")
def archive(two_runs: dict[str, Any]) -> Archive:
    """The first run's WARC file, its response records as the manifest lists them, the body
    of each (read from the whole file), and where each record of any type starts."""
    from warcio.archiveiterator import ArchiveIterator

    run_dir = min((two_runs["root"] / "archive" / "demo").iterdir())
    fetched = sorted((e for e in read_manifest(run_dir) if isinstance(e, Fetched)),
                     key=lambda e: e.offset)
    warc = run_dir / WARC_NAME
    bodies = {r.offset: r.body for r in responses(warc)}
    assert sorted(bodies) == [e.offset for e in fetched]
    with open(warc, "rb") as stream:
        records = ArchiveIterator(stream)
        starts = [records.offset for _ in records]
    return Archive(warc=warc, fetched=fetched, bodies=bodies, data=warc.read_bytes(),
                   starts=starts)


def _torn(archive: Archive) -> int:
    """Where, among the fetched records, the one the tests cut: the largest of the middle
    half, so that records come before and after it and half its length is in its body. The
    middle record itself was once a record of 455 bytes, whose half was in its header."""
    fetched = archive["fetched"]
    middle = range(len(fetched) // 4, 3 * len(fetched) // 4)
    return max(middle, key=lambda n: fetched[n].length)


def _content_end(data: bytes, start: int, end: int) -> int:
    """Where a record's content (all but the CRLFs that close it) can be decoded from
    data[start:where]: past it, only those CRLFs and the gzip trailer are missing."""
    content = len(gzip.decompress(data[start:end])) - len(b"\r\n\r\n")
    member, decoded = zlib.decompressobj(wbits=31), 0
    for where in range(start, end):
        decoded += len(member.decompress(data[where:where + 1]))
        if decoded >= content:
            return where + 1
    return end


def _read(path: Path) -> tuple[list[Response], ArchiveReadError | None]:
    """The records read whole, and the error that stopped the reading."""
    read: list[Response] = []
    try:
        read.extend(responses(path))
    except ArchiveReadError as error:
        return read, error
    return read, None


@pytest.mark.parametrize("where", ["in the body", "in the header", "at a record's end"])
def test_a_cut_archive_gives_its_whole_records_then_names_file_and_offset(
        archive, where, tmp_path):
    torn = archive["fetched"][_torn(archive)]
    cut = {"in the body": torn.offset + torn.length // 2, "in the header": torn.offset + 12,
           "at a record's end": torn.offset}[where]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(archive["data"][:cut])
    read, error = _read(path)
    assert [r.offset for r in read] == [e.offset for e in archive["fetched"]
                                        if e.offset < torn.offset]
    if where == "at a record's end":
        assert error is None
        return
    assert error is not None and error.offset == torn.offset and error.path == path
    assert str(error).startswith(f"{path}: the record at offset {torn.offset} ")


def test_a_cut_record_is_not_read_at_its_offset_either(archive, tmp_path):
    """reprocess reads records at the manifest's offsets: a cut one, and one past the end."""
    torn = archive["fetched"][-1]
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(archive["data"][:torn.offset + torn.length - 40])
    first = archive["fetched"][0].offset
    assert [r.body for r in read_payloads(path, {first})] == [archive["bodies"][first]]
    with pytest.raises(ArchiveReadError, match=rf"offset {torn.offset} is truncated: \d+ of"):
        list(read_payloads(path, {torn.offset}))
    with pytest.raises(ArchiveReadError, match=r"is missing: the file ends at \d+ bytes"):
        list(read_payloads(path, {len(archive["data"]) + 10}))


def test_extract_on_a_cut_or_garbage_warc_prints_what_is_whole_and_exits_1(archive, tmp_path):
    torn = archive["fetched"][_torn(archive)]
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(archive["data"][:torn.offset + torn.length // 2])
    result = newscorpus("extract", "--site", "demo", "--jobs", "1", str(cut), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    whole = [e for e in archive["fetched"] if e.offset < torn.offset and e.status == 200
             and "html" in (e.content_type or "html")]  # extract leaves error pages out
    assert len(result.stdout.splitlines()) == len(whole) > 0
    assert f"{cut}: the record at offset {torn.offset} is truncated" in result.stderr

    garbage = tmp_path / "garbage.warc"
    garbage.write_bytes(bytes(range(256)) * 8)
    result = newscorpus("extract", "--site", "demo", str(garbage), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert f"{garbage}: the record at offset 0 is not a readable WARC record" in result.stderr
    assert all(ch.isprintable() or ch == "\n" for ch in result.stderr), result.stderr


def test_reprocess_of_a_damaged_archive_fails_naming_it_and_changes_nothing(
        demo, prefect_backend, tmp_path):
    """#18: it failed with "generator raised StopIteration", naming no file."""
    from flows.pipeline import news_pipeline
    from flows.reprocess import reprocess

    db = tmp_path / "corpus.duckdb"
    news_pipeline(site="demo", base_url=demo.base_url, db=str(db), data_dir=str(tmp_path))
    run_dir = next((tmp_path / "archive" / "demo").iterdir())
    # A page that is extracted: the torn record of a page that is not (the demo's failed
    # article) was never read, and the first error was then the next record's, missing.
    articles = [e for e in read_manifest(run_dir)
                if isinstance(e, Fetched) and is_article_page(e)]
    torn = articles[len(articles) // 2]
    warc = run_dir / WARC_NAME
    with open(warc, "r+b") as stream:
        stream.truncate(torn.offset + torn.length // 2)
    before = checksums(db)
    with pytest.raises(ArchiveReadError, match=f"offset {torn.offset} is truncated"):
        reprocess(base_url=demo.base_url, db=str(db), data_dir=str(tmp_path))
    after = checksums(db)
    assert {t: v for t, v in after.items() if t != "crawl_runs"} == \
        {t: v for t, v in before.items() if t != "crawl_runs"}
    [(status, error)] = sql_rows(db, "SELECT status, error FROM crawl_runs "
                                     "WHERE mode = 'reprocess'")
    assert status == "failed" and f"{warc}: the record at offset {torn.offset}" in error


@st.composite
def _damage(draw: st.DrawFn, size: int) -> tuple[int, int, bytes]:
    """Where to cut the file, and a span to overwrite with other bytes (maybe empty)."""
    cut = draw(st.integers(0, size))
    start = draw(st.integers(0, max(cut - 1, 0)))
    return cut, start, draw(st.binary(max_size=16))


@pytest.fixture(scope="module")
def small_warc(archive: Archive) -> Archive:
    """The first six responses of the real archive (and their requests): small enough to read
    hundreds of times. `spans` holds each record's start, content end and end."""
    data = archive["data"][:archive["fetched"][5].offset]
    starts = [start for start in archive["starts"] if start < len(data)]
    spans = [(start, _content_end(data, start, end), end)
             for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]
    return Archive(archive, data=data, spans=spans)


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_a_damaged_warc_gives_whole_records_or_one_named_error(small_warc, tmp_path,
                                                                   data):
    archive, whole = small_warc, small_warc["data"]
    cut, start, noise = data.draw(_damage(len(whole)))
    damaged = whole[:start] + noise + whole[start + len(noise):cut]
    path = tmp_path / "fuzz.warc.gz"
    path.write_bytes(damaged)
    read, error = _read(path)  # any exception but ArchiveReadError fails the test
    assert error is None or str(error).startswith(f"{path}: the record at offset ")
    intact = cut if not noise else min(start, cut)
    untouched = [e.offset for e in archive["fetched"] if e.offset + e.length <= intact]
    assert [r.offset for r in read][:len(untouched)] == untouched
    if not noise:
        # Cut only: what is read is the file's own records, whole. One more than the untouched
        # can be: a record cut after all of its content, in its closing CRLFs or its gzip
        # trailer; any other cut is an error, unless it falls between two records.
        assert len(read) <= len(untouched) + 1
        assert all(r.body == archive["bodies"][r.offset] for r in read)
        assert error is not None or cut == 0 or any(
            content <= cut <= end for _, content, end in archive["spans"]), cut


def test_an_uncompressed_warc_is_checked_the_same(archive, tmp_path):
    plain = tmp_path / "crawl.warc"
    plain.write_bytes(gzip.decompress(archive["data"]))
    read, error = _read(plain)
    assert error is None and [r.body for r in read] == list(archive["bodies"].values())
    torn = read[_torn(archive)]  # the same record: the file's records in the same order
    plain.write_bytes(plain.read_bytes()[:torn.offset + len(torn.body) // 2])
    cut, error = _read(plain)
    assert [r.offset for r in cut] == [r.offset for r in read if r.offset < torn.offset]
    assert error is not None and error.offset == torn.offset
    assert "is truncated" in error.what


def test_archive_verify_passes_a_crawl_and_names_what_is_wrong_in_a_damaged_one(
        archive, two_runs, tmp_path):
    import json

    sound = newscorpus("archive", "verify", "--data-dir", str(two_runs["root"]), "--json",
                       cwd=tmp_path)
    assert sound.returncode == 0, sound.stderr
    checks = json.loads(sound.stdout)
    assert len(checks) == 2 and all(c["ok"] and c["verified"] == c["listed"] > 0
                                    for c in checks)

    run = tmp_path / "archive" / "demo" / archive["warc"].parent.name
    shutil.copytree(archive["warc"].parent, run)
    torn = archive["fetched"][_torn(archive)]
    (run / WARC_NAME).write_bytes(archive["data"][:torn.offset + torn.length // 2])
    events = [json.loads(line) for line in (run / "manifest.jsonl").read_text().splitlines()]
    for event in events:  # the second response, listed under another URL
        if event["event"] == "fetched" and event["offset"] == archive["fetched"][1].offset:
            event["url"] += "-elsewhere"
    (run / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    damaged = newscorpus("archive", "verify", run.name, "--data-dir", str(tmp_path),
                         cwd=tmp_path)
    assert damaged.returncode == 1
    later = sum(e.offset >= torn.offset for e in archive["fetched"])
    assert f"the record at offset {torn.offset} is truncated" in damaged.stderr
    assert f"({later} listed responses from there on)" in damaged.stderr
    assert f"is of {archive['fetched'][1].url}, the manifest says" in damaged.stderr


def test_archive_index_writes_the_cdxj_index_that_verify_holds_the_warc_against(
        archive, tmp_path):
    import json

    run = tmp_path / "archive" / "demo" / archive["warc"].parent.name
    shutil.copytree(archive["warc"].parent, run)
    index = run / "crawl.cdxj"
    lines = index.read_text().splitlines()  # the crawl wrote it
    by_offset = {int(json.loads(line.split(" ", 2)[2])["offset"]): line for line in lines}
    for event in archive["fetched"]:  # each answer the manifest lists is indexed, by its URL
        key, stamp, fields = by_offset[event.offset].split(" ", 2)
        assert json.loads(fields)["url"] == event.url and ")/" in key and len(stamp) == 14
    assert lines == sorted(lines)

    verify = ("archive", "verify", run.name, "--data-dir", str(tmp_path))
    index.unlink()
    missing = newscorpus(*verify, cwd=tmp_path)
    assert missing.returncode == 1 and "missing (`newscorpus archive index` writes it)" \
        in missing.stderr
    made = newscorpus("archive", "index", run.name, "--data-dir", str(tmp_path), "--json",
                      cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == [{"run": run.name, "index": str(index),
                                        "lines": len(lines)}]
    assert index.read_text().splitlines() == lines
    assert newscorpus(*verify, cwd=tmp_path).returncode == 0

    index.write_text("".join(line + "\n" for line in lines[1:]))
    stale = newscorpus(*verify, cwd=tmp_path)
    assert stale.returncode == 1 and f"of its {len(lines) - 1} lines differ" in stale.stderr
