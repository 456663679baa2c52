"""Whole commands against whole commands, on the same pages, taking turns.

    python benchmarks/commands.py [--articles 10000] [--runs 3] [--json FILE]

A pre-rendered demo site is served from its own process; then, each round, each side runs
as a process of its own, timed from outside (wall seconds, its tree's peak RSS):
- `newscorpus run`: a fresh database and archive folder, and a cold Prefect (a new
  PREFECT_HOME, no server: the command starts its own), as a new user runs it;
- bare Scrapy: `scrapy runspider benchmarks/bare_spider.py` on the site's article URLs
  (download only, the fetch limit);
- trafilatura's own fetch plus extract on the same URL list, on both cores
  (benchmarks/trafilatura_peer.py: its CLI fetches one page of a host at a time), with a
  settings file that turns off its loopback guard and its 5 s sleep per host
  (../shared/DESIGN.md);
- news-please's own fetch plus extract on the same URL list, on both cores
  (benchmarks/newsplease_peer.py), in a venv of its own that this script makes once, in the
  temporary folder, from benchmarks/news-please-constraints.txt (or `--news-please PYTHON`).

Rates are article pages per second (the site's article count over the wall time: newscorpus
also discovers them, through listings and sitemaps, and fetches those). The ratios are of
the same round, printed as min–max over the rounds. Each side's output is checked: the
articles newscorpus loaded and quarantined against `/__truth__`, the pages Scrapy got with
status 200, the documents each peer wrote and how many of their titles are the truth's
(news-please's with its dashes: it writes every dash as "-").
Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scratch  # noqa: E402 - after the path is set
from benchmarks.run import child, serve_demo  # noqa: E402 - after the path is set

SIDES = ("newscorpus run", "bare scrapy", "trafilatura", "news-please")
NEWS_PLEASE_PINS = ROOT / "benchmarks" / "news-please-constraints.txt"
_TRAFILATURA_SETTINGS = """[DEFAULT]
DOWNLOAD_TIMEOUT = 30
MAX_FILE_SIZE = 20000000
MIN_FILE_SIZE = 10
SLEEP_TIME = 0
USER_AGENTS =
COOKIE =
MAX_REDIRECTS = 2
SSRF_PROTECTION = off
INSECURE_SSL_FALLBACK = off
MIN_EXTRACTED_SIZE = 250
MIN_OUTPUT_SIZE = 1
MIN_OUTPUT_COMM_SIZE = 1
MAX_TREE_SIZE =
EXTRACTION_TIMEOUT = 30
MIN_DUPLCHECK_SIZE = 100
MAX_REPETITIONS = 2
EXTENSIVE_DATE_SEARCH = on
EXTERNAL_URLS = off
"""


def _newscorpus(base: str, round_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The command, and its environment: a Prefect home of its own and no server named."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return ([sys.executable, "-m", "newscorpus", "run", "--site", "demo", "--base-url", base,
             "--db", str(round_dir / "corpus.duckdb"), "--data-dir", str(round_dir / "data"),
             "--json"], {**env, "PREFECT_HOME": str(round_dir / "prefect")})


def _checked_newscorpus(out: str, truth: dict[str, Any]) -> dict[str, Any]:
    summary = json.loads(out[out.index("{"):])
    loadable = sum(a["expected"] == "loaded" for a in truth["articles"])
    return {"new": summary["new"], "quarantined": summary["quarantined"],
            "failed": summary["failed"], "loadable_by_truth": loadable,
            "ok": summary["new"] == loadable and summary["status"] == "completed"}


def _checked_scrapy(err: str, truth: dict[str, Any]) -> dict[str, Any]:
    found = re.search(r"'downloader/response_status_count/200': (\d+)", err)
    got = int(found.group(1)) if found else 0
    answering = sum(a["expected"] != "failed" for a in truth["articles"])
    return {"status_200": got, "ok": got >= answering}


def _checked_peer(out_dir: Path, truth: dict[str, Any], dashes: bool = False
                  ) -> dict[str, Any]:
    """The documents a peer wrote, and how many carry a title of the truth's (with `dashes`,
    every dash read as "-", as news-please writes them)."""
    def title(text: str | None) -> str | None:
        return re.sub("[\u2012-\u2015]", "-", text) if dashes and text else text

    titles = {title(a["title"]) for a in truth["articles"]}
    documents = [json.loads(p.read_text(encoding="utf-8")) for p in out_dir.glob("*.json")]
    right = sum(title(d.get("title")) in titles for d in documents)
    loadable = sum(a["expected"] == "loaded" for a in truth["articles"])
    return {"documents": len(documents), "titles_right": right, "ok": right >= loadable}


def news_please_python(given: Path | None) -> Path:
    """A Python with news-please: `given`, else a venv made once per pins file (its hash names
    the folder, in the temporary folder)."""
    if given:
        return given
    digest = hashlib.sha256(NEWS_PLEASE_PINS.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"newscorpus-news-please-{digest}"
    python = venv / "bin" / "python"
    if not (venv / "ok").exists():
        print(f"installing news-please into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-c", NEWS_PLEASE_PINS,
                        "news-please"], check=True, timeout=900)
        (venv / "ok").touch()
    return python


def run_round(base: str, truth: dict[str, Any], work: Path, number: int,
              news_please: Path) -> dict[str, Any]:
    urls = work / "urls.txt"
    pages = len(truth["articles"])
    figures: dict[str, Any] = {}
    round_dir = work / f"round-{number}"
    round_dir.mkdir()
    for side in SIDES:
        streams = (round_dir / f"{side}.out", round_dir / f"{side}.err")
        if side == "newscorpus run":
            command, env = _newscorpus(base, round_dir)
            ran = child(command, streams, cwd=round_dir, env=env)
            check = _checked_newscorpus(streams[0].read_text(), truth)
        elif side == "bare scrapy":
            ran = child([sys.executable, "-m", "scrapy", "runspider",
                         str(ROOT / "benchmarks" / "bare_spider.py"), "-a", f"urls={urls}",
                         "-s", "LOG_LEVEL=INFO"], streams, cwd=round_dir)
            check = _checked_scrapy(streams[1].read_text(), truth)
        elif side == "trafilatura":
            out_dir = round_dir / "trafilatura"
            ran = child([sys.executable, str(ROOT / "benchmarks" / "trafilatura_peer.py"),
                         str(urls), str(out_dir), "--config", str(work / "trafilatura.cfg")],
                        streams, cwd=round_dir)
            check = _checked_peer(out_dir, truth)
        else:
            out_dir = round_dir / "news-please"
            ran = child([str(news_please), str(ROOT / "benchmarks" / "newsplease_peer.py"),
                         str(urls), str(out_dir)], streams, cwd=round_dir)
            check = _checked_peer(out_dir, truth, dashes=True)
        figures[side] = {"seconds": ran["seconds"], "rss_mib": ran["rss_mib"],
                         "pages_per_s": pages / ran["seconds"], **check}
        print(f"round {number} {side}: {ran['seconds']:.1f} s, {check}", file=sys.stderr)
    return figures


def measure(articles: int, runs: int, news_please: Path) -> dict[str, Any]:
    work = scratch.folder("newscorpus-commands-bench-")
    (work / "trafilatura.cfg").write_text(_TRAFILATURA_SETTINGS, encoding="utf-8")
    server, base = serve_demo(articles)
    try:
        with urllib.request.urlopen(f"{base}/__truth__", timeout=60) as response:
            truth = json.load(response)
        (work / "urls.txt").write_text("\n".join(a["url"] for a in truth["articles"]))
        rounds = [run_round(base, truth, work, n, news_please) for n in range(1, runs + 1)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"articles": articles, "pages": len(truth["articles"]), "runs": runs,
            "rounds": rounds}


def table(results: dict[str, Any]) -> str:
    rounds = results["rounds"]
    lines = [f"{results['pages']} article pages of a pre-rendered demo site, "
             f"{results['runs']} rounds, each side a whole process timed from outside",
             f"{'side':<16} {'wall s':>13} {'pages/s':>13} {'peak RSS MiB':>14}  output"]
    for side in SIDES:
        rows = [r[side] for r in rounds]
        seconds = [r["seconds"] for r in rows]
        rate = [r["pages_per_s"] for r in rows]
        rss = [r["rss_mib"] for r in rows]
        checks = {k: v for k, v in rows[-1].items()
                  if k not in ("seconds", "rss_mib", "pages_per_s")}
        lines.append(f"{side:<16} {min(seconds):>6.1f}–{max(seconds):<6.1f}"
                     f"{min(rate):>6.0f}–{max(rate):<6.0f} {min(rss):>6.0f}–{max(rss):<6.0f}  "
                     f"{checks}{'' if all(r['ok'] for r in rows) else '  NOT OK'}")
    lines.append("newscorpus run, same round:")
    for peer in SIDES[1:]:
        ratios = [r["newscorpus run"]["pages_per_s"] / r[peer]["pages_per_s"] for r in rounds]
        lines.append(f"  × {peer:<14} {min(ratios):.2f}–{max(ratios):.2f} "
                     f"(median {statistics.median(ratios):.2f})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    parser.add_argument("--news-please", type=Path, metavar="PYTHON",
                        help="A Python that has news-please (default: a venv made for it).")
    args = parser.parse_args()
    results = measure(args.articles, args.runs, news_please_python(args.news_please))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
