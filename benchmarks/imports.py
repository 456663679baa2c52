"""Import throughput: `newscorpus import` against a plain warcio read plus trafilatura, on the
same WARC file, in the same run.

    python benchmarks/imports.py [--articles 2000] [--rounds 3] [--json FILE]

The file is the demo site's pages as another crawler would have written them
(demosite/foreign_warc.py): each article once, spread over six hosts (one that the espreso
profile knows, five that go the generic path), with the robots.txt, images, PDFs, errors,
repeated URLs and a revisit record of a news crawl. Both sides are whole processes on both
cores, timed from outside, taking turns:
- `newscorpus import FILE` into a fresh DuckDB file: reading, sorting into sites, extraction,
  cleaning, validation and the load, with its temporary Prefect server;
- the baseline (`--baseline FILE OUT`, this script): warcio reads the file, and
  `trafilatura.extract` (default settings, with metadata) takes every HTML answer of status
  200, in two processes.
Records/s counts the file's response and revisit records. Beside the speed, each side's
output is checked against the demo site's truth: the share of articles with the right title
and the right publication day.

Then the readers alone, in this process, taking turns: the import's first pass (warcio,
through `spiders.archive_reader.responses`: every response and revisit record read whole,
digests checked), and FastWARC's iterator doing the same (when FastWARC is installed; it is
not a dependency). Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from datetime import datetime
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import child, report, serve_demo  # noqa: E402


def _extract(page: tuple[str, bytes]) -> dict[str, Any]:
    import trafilatura

    url, body = page
    found = trafilatura.extract(body, url=url, output_format="json", with_metadata=True)
    meta = json.loads(found) if found else {}
    return {"url": url, "title": meta.get("title"), "day": meta.get("date")}


def baseline(warc: Path, out: Path) -> None:
    """warcio + trafilatura on both cores: one JSON line per HTML answer of status 200."""
    from warcio.archiveiterator import ArchiveIterator

    def pages() -> Any:
        with open(warc, "rb") as stream:
            for record in ArchiveIterator(stream):
                headers = record.http_headers
                if (record.rec_type == "response" and headers
                        and headers.get_statuscode() == "200"
                        and "html" in (headers.get_header("Content-Type") or "")):
                    yield record.rec_headers.get_header("WARC-Target-URI"), \
                        record.content_stream().read()

    with Pool(2) as pool, open(out, "w") as lines:
        for row in pool.imap(_extract, pages(), chunksize=16):
            lines.write(json.dumps(row) + "\n")


def _day(moment: str, like: str) -> str:
    """The day of `moment` in the time zone of the truth's `like`."""
    return datetime.fromisoformat(moment).astimezone(
        datetime.fromisoformat(like).tzinfo).date().isoformat()


def _quality(rows: dict[str, tuple[str | None, str | None]],
             expected: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Of the articles truth says load, the shares given with the right title and day."""
    sound = {url: a for url, a in expected.items() if a["expected"] == "loaded"}
    titles = sum(rows.get(url, (None, None))[0] == a["title"] for url, a in sound.items())
    days = sum((got := rows.get(url, (None, None))[1]) is not None
               and _day(got, a["published_at"]) == a["published_at"][:10]
               for url, a in sound.items())
    return {"articles": len(sound), "title_right": titles / len(sound),
            "day_right": days / len(sound)}


def measure(articles: int, rounds: int) -> dict[str, Any]:
    from demosite.foreign_warc import ESPRESO, FOREIGN, write_foreign_warc
    from warehouse.db import connect

    work = scratch.folder("newscorpus-import-bench-")
    server, base = serve_demo(articles)
    try:
        with urllib.request.urlopen(f"{base}/__truth__", timeout=60) as answer:
            truth = json.load(answer)["articles"]
        hosts = [ESPRESO, *FOREIGN]
        warc = write_foreign_warc(work / "others.warc.gz", base,
                                  [(host, truth[i::len(hosts)]) for i, host in enumerate(hosts)])
    finally:
        server.terminate()
    out: dict[str, Any] = {"records": warc.records, "articles": articles,
                           "file_mib": warc.path.stat().st_size / 2**20, "rounds": []}
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect")}
    for round_ in range(rounds):
        db, folder = work / f"import-{round_}.duckdb", work / f"import-{round_}"
        ours = child([sys.executable, "-m", "newscorpus", "import", str(warc.path), "--db",
                      str(db), "--data-dir", str(folder)], cwd=work, env=env)
        con = connect(db, read_only=True)
        try:
            rows = {url: (title, published.isoformat() if published else None) for
                    url, title, published in con.execute(
                        "SELECT url, title, published_at FROM articles").fetchall()}
        finally:
            con.close()
        lines = work / f"baseline-{round_}.jsonl"
        theirs = child([sys.executable, str(Path(__file__).resolve()), "--baseline",
                        str(warc.path), str(lines)], cwd=work)
        found = [json.loads(line) for line in lines.read_text().splitlines()]
        out["rounds"].append({
            "newscorpus import": {**ours, "quality": _quality(rows, warc.expected)},
            "warcio + trafilatura": {**theirs, "quality": _quality(
                {r["url"]: (r["title"], r["day"] and f"{r['day']}T12:00:00+00:00")
                 for r in found}, warc.expected)}})
    out["readers"] = measure_readers(warc.path, rounds)
    return out


def _warcio_pass(path: Path) -> int:
    from spiders.archive_reader import responses

    return sum(1 for _ in responses(path))


def _fastwarc_pass(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as stream:
        records = ArchiveIterator(stream, parse_http=True, verify_digests=True,
                                  record_types=WarcRecordType.response | WarcRecordType.revisit)
        return sum(1 for record in records if record.reader.read() is not None)


def measure_readers(path: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds of each reader's pass over the file, per round (FastWARC only if installed)."""
    import importlib.util

    readers = {"warcio (the import's pass)": _warcio_pass}
    if importlib.util.find_spec("fastwarc"):
        readers["FastWARC"] = _fastwarc_pass
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, read in readers.items():
            started = time.perf_counter()
            read(path)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def table(results: dict[str, Any]) -> str:
    lines = [f"{results['records']} records ({results['articles']} articles, "
             f"{results['file_mib']:.1f} MiB), {len(results['rounds'])} rounds, min–max",
             f"{'side':<22} {'seconds':>13} {'records/s':>13} {'peak MiB':>13} "
             f"{'title right':>12} {'day right':>10}"]
    for side in results["rounds"][0]:
        runs = [r[side] for r in results["rounds"]]
        seconds = [r["seconds"] for r in runs]
        rates = [results["records"] / s for s in seconds]
        rss = [r["rss_mib"] for r in runs]
        quality = {key: min(r["quality"][key] for r in runs)
                   for key in ("title_right", "day_right")}
        lines.append(f"{side:<22} {min(seconds):6.1f}–{max(seconds):<6.1f} "
                     f"{min(rates):6.1f}–{max(rates):<6.1f} {min(rss):6.0f}–{max(rss):<6.0f} "
                     f"{quality['title_right']:12.3f} {quality['day_right']:10.3f}")
    lines.append("(title and day right: the lowest share over the rounds)")
    for name, seconds in results["readers"].items():
        lines.append(f"reader: {name:<26} {min(seconds):5.2f}–{max(seconds):<5.2f} s a pass")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--baseline", nargs=2, type=Path, metavar=("WARC", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline(*args.baseline)
        return 0
    report(measure(args.articles, args.rounds), table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
