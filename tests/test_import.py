"""#21: `newscorpus import` of a WARC file that another tool wrote, in CC-NEWS's shape.

The file is written here with warcio's own writer, not with this project's archive code:
gzip per record, a warcinfo record, request records, many hosts, pages that are no HTML,
answers other than 200, a revisit record, and URLs fetched twice. Its pages are the demo
site's, fetched over HTTP and served as six sites would serve them: one on the espreso
profile's host (which `--site auto` extracts with that profile), five on hosts that no
profile knows (the generic path).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections import Counter
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from conftest import sql_rows
from test_cli import assert_one_line_error, newscorpus
from test_incremental import checksums

ESPRESO = "https://global.espreso.tv"
FOREIGN = ("https://kyiv-daily.example", "https://news.example.org", "https://www.example.net",
           "https://daily.example.com", "https://wire.example.co.uk")
PER_FOREIGN_HOST = 140  # articles of the demo site each foreign host serves


def _get(url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, list(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, list(answer.headers.items()), answer.read()


class ForeignWarc:
    """A WARC written with warcio's writer; counts what it holds, by kind."""

    def __init__(self, path: Path) -> None:
        from warcio.warcwriter import WARCWriter

        self.path = path
        self.stream = open(path, "wb")  # noqa: SIM115 (closed in `close`)
        self.writer = WARCWriter(self.stream, gzip=True)
        self.kinds: Counter[str] = Counter()
        self.writer.write_record(self.writer.create_warcinfo_record(
            path.name, {"software": "a CC-NEWS-like test writer", "format": "WARC/1.0"}))

    def response(self, url: str, status: int, headers: list[tuple[str, str]], body: bytes,
                 kind: str, request: bool = True) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        headers = [(k, v) for k, v in headers
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")]
        http = StatusAndHeaders(f"{status} X", [*headers, ("Content-Length", str(len(body)))],
                                protocol="HTTP/1.1")
        record = self.writer.create_warc_record(url, "response", payload=BytesIO(body),
                                                http_headers=http)
        self.writer.write_record(record)
        if request:
            host = url.split("/")[2]
            asked = StatusAndHeaders(f"GET /{url.split('/', 3)[3]} HTTP/1.1",
                                     [("Host", host), ("User-Agent", "test")], is_http_request=True)
            self.writer.write_record(self.writer.create_warc_record(
                url, "request", http_headers=asked,
                warc_headers_dict={"WARC-Concurrent-To":
                                   record.rec_headers.get_header("WARC-Record-ID")}))
        self.kinds[kind] += 1

    def revisit(self, url: str, refers_to: str) -> None:
        from warcio.statusandheaders import StatusAndHeaders

        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = self.writer.create_revisit_record(
            url, digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", refers_to_uri=refers_to,
            refers_to_date="2025-01-01T00:00:00Z", http_headers=http)
        self.writer.write_record(record)
        self.kinds["revisit"] += 1

    def close(self) -> None:
        self.stream.close()


@pytest.fixture(scope="module")
def foreign_warc(demo, truth, tmp_path_factory) -> dict[str, Any]:
    """The file, what it holds, and the truth of each demo article by its new URLs."""
    base = demo.base_url
    pages = {a["url"]: _get(a["url"]) for a in truth["articles"]}
    warc = ForeignWarc(tmp_path_factory.mktemp("foreign") / "CC-NEWS-20250201000000-00001.warc.gz")
    expected: dict[str, dict[str, Any]] = {}
    hosts = [(ESPRESO, truth["articles"])] + [
        (host, truth["articles"][i * 40:i * 40 + PER_FOREIGN_HOST])
        for i, host in enumerate(FOREIGN)]
    for host, articles in hosts:
        for article in articles:
            status, headers, body = pages[article["url"]]
            url = article["url"].replace(base, host)
            warc.response(url, status, headers, body.replace(base.encode(), host.encode()),
                          "html 200" if status == 200 else f"HTTP {status}")
            expected[url] = article
        # What else a news crawl holds: robots.txt, an image, a PDF, answers other than 200.
        warc.response(f"{host}/robots.txt", 200, [("Content-Type", "text/plain")],
                      b"User-agent: *\nDisallow: /private/\n", "not html")
        warc.response(f"{host}/images/photo.jpg", 200, [("Content-Type", "image/jpeg")],
                      b"\xff\xd8\xff\xe0" + bytes(200), "not html", request=False)
        warc.response(f"{host}/report.pdf", 200, [("Content-Type", "application/pdf")],
                      b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not html")
        warc.response(f"{host}/gone", 404, [("Content-Type", "text/html")],
                      b"<html><body>Not found</body></html>", "HTTP 404")
        warc.response(f"{host}/old-path", 301, [("Location", f"{host}/"),
                                                 ("Content-Type", "text/html")], b"", "HTTP 301")
        warc.response(f"{host}/busy", 503, [("Content-Type", "text/html"),
                                             ("Retry-After", "5")], b"busy", "HTTP 503")
    # The same URL fetched twice, as a crawler that found it in two feeds does.
    for host, articles in hosts[1:]:
        for article in articles[:3]:
            status, headers, body = pages[article["url"]]
            url = article["url"].replace(base, host)
            warc.response(url, status, headers, body.replace(base.encode(), host.encode()),
                          "repeated")
    warc.revisit(hosts[1][1][5]["url"].replace(base, FOREIGN[0]),
                 hosts[1][1][5]["url"].replace(base, FOREIGN[0]))
    warc.close()
    return {"path": warc.path, "kinds": warc.kinds, "expected": expected}


def _import(path: Path, root: Path, *more: str) -> Any:
    return newscorpus("import", str(path), "--db", str(root / "corpus.duckdb"),
                      "--data-dir", str(root), "--json", *more, cwd=root, timeout=600)


@pytest.fixture(scope="module")
def imported(foreign_warc, tmp_path_factory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("imported")
    result = _import(foreign_warc["path"], root)
    assert result.returncode == 0, result.stderr
    return {"root": root, "db": root / "corpus.duckdb",
            "summary": json.loads(result.stdout.splitlines()[-1])}


def test_the_file_is_a_warc_of_others_in_cc_news_shape(foreign_warc):
    """What the tests below import: over 1,000 records, six hosts, every kind of answer."""
    from warcio.archiveiterator import ArchiveIterator

    with open(foreign_warc["path"], "rb") as stream:
        types = Counter(record.rec_type for record in ArchiveIterator(stream))
    assert types["response"] + types["revisit"] == sum(foreign_warc["kinds"].values()) >= 1000
    assert types["request"] > 900 and types["warcinfo"] == 1 and types["revisit"] == 1
    hosts = {url.split("/")[2] for url in foreign_warc["expected"]}
    assert len(hosts) == 6
    kinds = foreign_warc["kinds"]
    assert kinds["not html"] == 18 and kinds["HTTP 301"] == 6 and kinds["repeated"] == 15


def test_every_record_ends_in_one_state(foreign_warc, imported):
    db, summary, kinds = imported["db"], imported["summary"], foreign_warc["kinds"]
    records = sum(kinds.values())
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
            for url, a in foreign_warc["expected"].items() if url.startswith(ESPRESO)}
    assert {url: got[url] for url in want} == want
    titles = dict(sql_rows(db, "SELECT url, title FROM articles WHERE site = 'espreso'"))
    assert len(titles) == truth["expected_counts"]["loaded"]
    assert all(titles[url] == foreign_warc["expected"][url]["title"] for url in titles)


def test_foreign_hosts_load_through_the_generic_path(foreign_warc, imported):
    db = imported["db"]
    loaded = sql_rows(db, "SELECT url, title, body, published_at FROM articles "
                          "WHERE site = 'generic'")
    sound = [url for url, a in foreign_warc["expected"].items()
             if not url.startswith(ESPRESO) and a["expected"] == "loaded"]
    assert len(loaded) >= 0.9 * len(sound)
    for url, title, body, published in loaded:
        article = foreign_warc["expected"][url]
        assert title == article["title"] and body and published is not None


def test_a_second_import_of_the_file_changes_nothing(foreign_warc, imported, tmp_path):
    before = checksums(imported["db"])
    again = _import(foreign_warc["path"], imported["root"])
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["runs"] == 0 and summary["skipped_runs"] == 2
    assert summary["discovered"] == 0
    # The same file under another name is the same import.
    renamed = tmp_path / "copy.warc.gz"
    shutil.copyfile(foreign_warc["path"], renamed)
    assert _import(renamed, imported["root"]).returncode == 0
    assert checksums(imported["db"]) == before


def test_an_import_stopped_by_a_damaged_file_resumes_where_it_stopped(foreign_warc, tmp_path):
    """A file cut short fails with its name and offset, after the whole files before it
    loaded; once it is whole, the rerun loads it alone."""
    from spiders.archive_reader import ArchiveReadError, responses

    data = foreign_warc["path"].read_bytes()
    # `whole` ends where a record starts, `cut` inside a record.
    starts = [r.offset for r in responses(foreign_warc["path"])]
    whole, cut = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    whole.write_bytes(data[:max(o for o in starts if o < len(data) // 3)])
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
