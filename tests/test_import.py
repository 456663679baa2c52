"""#21: `newscorpus import` of a WARC file that another tool wrote, in CC-NEWS's shape
(demosite/foreign_warc.py: warcio's writer, gzip per record, request records, many hosts,
pages that are no HTML, answers other than 200, URLs fetched twice, a revisit record).

Its pages are the demo site's, fetched over HTTP and served as six sites would serve them:
one on the espreso profile's host (which `--site auto` extracts with that profile), five on
hosts that no profile knows (the generic path).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import sql_rows
from test_cli import assert_one_line_error, newscorpus
from test_incremental import checksums

from demosite.foreign_warc import ESPRESO, FOREIGN, ForeignWarc, write_foreign_warc

PER_FOREIGN_HOST = 140  # articles of the demo site each foreign host serves


def cc_news_hosts(articles: list[dict[str, Any]], per_foreign_host: int) -> list[Any]:
    """All of `articles` on the espreso host; `per_foreign_host` of them, overlapping, on each
    foreign host."""
    step = (len(articles) - per_foreign_host) // (len(FOREIGN) - 1)
    return [(ESPRESO, articles)] + [(host, articles[i * step:i * step + per_foreign_host])
                                    for i, host in enumerate(FOREIGN)]


@pytest.fixture(scope="module")
def foreign_warc(demo, truth, tmp_path_factory) -> ForeignWarc:
    """The whole demo site on the espreso host, and 140 of its articles on each other."""
    folder = tmp_path_factory.mktemp("foreign")
    return write_foreign_warc(folder / "CC-NEWS-20250201000000-00001.warc.gz", demo.base_url,
                              cc_news_hosts(truth["articles"], PER_FOREIGN_HOST))


def _import(path: Path, root: Path) -> Any:
    return newscorpus("import", str(path), "--db", str(root / "corpus.duckdb"),
                      "--data-dir", str(root), "--json", cwd=root, timeout=600)


@pytest.fixture(scope="module")
def imported(foreign_warc, tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("imported")
    result = _import(foreign_warc.path, root)
    assert result.returncode == 0, result.stderr
    return {"root": root, "db": root / "corpus.duckdb",
            "summary": json.loads(result.stdout.splitlines()[-1])}


def test_the_file_is_a_warc_of_others_in_cc_news_shape(foreign_warc):
    """What the tests below import: over 1,000 records, six hosts, every kind of answer."""
    from warcio.archiveiterator import ArchiveIterator

    with open(foreign_warc.path, "rb") as stream:
        types = Counter(record.rec_type for record in ArchiveIterator(stream))
    assert types["response"] + types["revisit"] == foreign_warc.records >= 1000
    assert types["request"] > 900 and types["warcinfo"] == 1 and types["revisit"] == 1
    hosts = {url.split("/")[2] for url in foreign_warc.expected}
    assert len(hosts) == 6
    kinds = foreign_warc.kinds
    assert kinds["not html"] == 18 and kinds["HTTP 301"] == 6 and kinds["repeated"] == 15


def test_every_record_ends_in_one_state(foreign_warc, imported):
    db, summary, kinds = imported["db"], imported["summary"], foreign_warc.kinds
    records = foreign_warc.records
    assert summary["discovered"] == records
    assert summary["runs"] == 2 and summary["skipped_runs"] == 0
    runs = sql_rows(db, "SELECT site, mode, discovered, new + updated + unchanged + quarantined "
                        "+ failed FROM crawl_runs ORDER BY site")
    assert [(site, mode) for site, mode, *_ in runs] == [("espreso", "import"),
                                                          ("generic", "import")]
    assert all(discovered == accounted for *_, discovered, accounted in runs)
    [(rows, offsets)] = sql_rows(db, "SELECT count(*), count(DISTINCT warc_offset) FROM fetches")
    assert rows == offsets == records
    failed = dict(sql_rows(db, "SELECT error, count(*) FROM fetches WHERE outcome = 'failed' "
                               "GROUP BY ALL"))
    assert failed.pop("not an HTML page (text/plain)") == 6
    assert failed.pop("not an HTML page (image/jpeg)") == 6
    assert failed.pop("not an HTML page (application/pdf)") == 6
    assert failed.pop("HTTP 301") == 6 and failed.pop("HTTP 503") == 6
    # Each host's /gone, and the demo's own 404 article on every host that serves it.
    assert failed.pop("HTTP 404") == kinds["HTTP 404"] > 6
    assert [error for error in failed] == ["a revisit record: its payload is another record's "
                                           "(HTTP 200)"]
    repeats = sql_rows(db, "SELECT url, error FROM fetches WHERE outcome = 'quarantined' "
                           "AND error LIKE 'duplicate: the record at offset %'")
    held = sql_rows(db, "SELECT url, reasons[1] FROM quarantine WHERE reasons[1] LIKE "
                        "'duplicate: the record at offset %'")
    assert len(repeats) == kinds["repeated"] and sorted(held) == sorted(repeats)


def test_the_known_host_loads_as_the_demo_site_would(foreign_warc, imported, truth):
    """The espreso host's pages, with the espreso profile: what truth expects of each."""
    db = imported["db"]
    got = dict(sql_rows(db, "SELECT url, outcome FROM fetches f JOIN crawl_runs USING (run_id) "
                            "WHERE site = 'espreso'"))
    want = {url: {"loaded": "new"}.get(a["expected"], a["expected"])
            for url, a in foreign_warc.expected.items() if url.startswith(ESPRESO)}
    assert {url: got[url] for url in want} == want
    titles = dict(sql_rows(db, "SELECT url, title FROM articles WHERE site = 'espreso'"))
    assert len(titles) == truth["expected_counts"]["loaded"]
    assert all(titles[url] == foreign_warc.expected[url]["title"] for url in titles)


def test_foreign_hosts_load_through_the_generic_path(foreign_warc, imported):
    db = imported["db"]
    loaded = sql_rows(db, "SELECT url, title, body, published_at FROM articles "
                          "WHERE site = 'generic'")
    sound = [url for url, a in foreign_warc.expected.items()
             if not url.startswith(ESPRESO) and a["expected"] == "loaded"]
    assert len(loaded) >= 0.9 * len(sound)
    for url, title, body, published in loaded:
        article = foreign_warc.expected[url]
        assert title == article["title"] and body and published is not None


def test_reprocessing_reads_the_imported_pages_where_they_are(imported):
    """`reprocess --site espreso` re-extracts the espreso host's imported pages from the
    file: with unchanged code, no article changes."""
    db = imported["db"]
    columns = {"articles": "article_id, content_hash, version"}
    before = checksums(db, columns)
    result = newscorpus("reprocess", "--site", "espreso", "--db", str(db), "--json",
                        cwd=imported["root"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    [(loaded,)] = sql_rows(db, "SELECT count(*) FROM articles WHERE site = 'espreso'")
    assert summary["unchanged"] == loaded and summary["new"] == summary["updated"] == 0
    assert checksums(db, columns) == before


def test_a_second_import_of_the_file_changes_nothing(foreign_warc, imported, tmp_path):
    before = checksums(imported["db"])
    again = _import(foreign_warc.path, imported["root"])
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["runs"] == 0 and summary["skipped_runs"] == 2
    assert summary["discovered"] == 0
    # The same file under another name is the same import.
    renamed = tmp_path / "copy.warc.gz"
    shutil.copyfile(foreign_warc.path, renamed)
    assert _import(renamed, imported["root"]).returncode == 0
    assert checksums(imported["db"]) == before


def test_an_import_stopped_by_a_damaged_file_resumes_where_it_stopped(foreign_warc, tmp_path):
    """A file cut short fails with its name and offset, after the whole files before it
    loaded; once it is whole, the rerun loads it alone."""
    from spiders.archive_reader import ArchiveReadError, responses

    data = foreign_warc.path.read_bytes()
    # `whole` ends where a record starts, `cut` inside a record.
    starts = [r.offset for r in responses(foreign_warc.path)]
    whole, cut = tmp_path / "a.warc", tmp_path / "b.warc.gz"  # `whole` not compressed
    whole.write_bytes(gzip.decompress(data[:max(o for o in starts if o < len(data) // 3)]))
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ArchiveReadError):
        list(responses(cut))
    db = tmp_path / "corpus.duckdb"
    first = newscorpus("import", str(whole), str(cut), "--db", str(db), "--data-dir",
                       str(tmp_path), cwd=tmp_path, timeout=600)
    assert_one_line_error(first, 1, f"{cut}: the record at offset ")
    loaded = sql_rows(db, "SELECT run_id FROM crawl_runs WHERE status = 'completed'")
    assert loaded and all(r.startswith("import-") for r, in loaded)
    cut.write_bytes(data)
    second = newscorpus("import", str(whole), str(cut), "--db", str(db), "--data-dir",
                        str(tmp_path), "--json", cwd=tmp_path, timeout=600)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert summary["skipped_runs"] == len(loaded) and summary["runs"] == 2


def test_import_refuses_what_is_not_a_warc(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    assert_one_line_error(newscorpus("import", str(page), cwd=tmp_path), 2,
                          f"not a WARC file (.warc, .warc.gz): {page}")
    assert_one_line_error(newscorpus("import", str(tmp_path / "missing.warc.gz"),
                                     cwd=tmp_path), 2, "not a WARC file")
