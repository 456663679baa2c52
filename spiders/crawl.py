"""Run one crawl in this process: `python -m spiders.crawl --site demo --out DIR ...`.

The flows start this as a subprocess, because Twisted's reactor cannot be restarted inside
a long-lived (Prefect) process. Started with `--arguments-on-stdin` (spiders/launch.py), it
imports first and then waits for its arguments.

The requests a crawl has found but not sent yet, beyond a bound, wait on disk
(spiders/queue.py), in a folder of the run's own (`JOBDIR`) that is removed when the crawl
ends.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.misc import load_object

from sites import load_profile
from spiders import launch
from spiders import settings as defaults
from spiders.news import NewsSpider

QUEUE_PREFIX = "queue-"  # the crawl's queue folder, in its run's folder while it runs


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == [launch.AHEAD]:
        _import_components()
        argv = launch.receive()
        if argv is None:
            return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", required=True)
    parser.add_argument("--base-url")
    parser.add_argument("--out", required=True, help="folder for the WARC file and manifest")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--max-pages", type=int, default=0, help="listing pages; 0 = all")
    parser.add_argument("--plan", default="", help="JSON file: mode, known URLs, window, URLs")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    profile = load_profile(args.site, args.base_url)
    settings = _project_settings()
    settings.update({**defaults.for_profile(profile), "LOG_LEVEL": args.log_level},
                    priority="cmdline")
    # A fresh folder each time: a crawl retried in the same run folder must not resume
    # another's queue, nor take its seen requests for duplicates.
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=QUEUE_PREFIX, dir=args.out) as queue:
        settings.set("JOBDIR", queue, priority="cmdline")
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(NewsSpider)
        process.crawl(crawler, site=args.site, base_url=profile.base_url, out_dir=args.out,
                      run_id=args.run_id, max_pages=args.max_pages, plan=args.plan)
        process.start()
    stats = crawler.stats
    return 0 if stats.get_value("finish_reason") == "finished" \
        and not stats.get_value("newscorpus/archive_error") else 1


def _project_settings() -> Settings:
    settings = Settings()
    settings.setmodule(defaults, priority="project")
    return settings


def _import_components() -> None:
    """Import the classes that Scrapy loads as it builds a crawler: the middlewares, download
    handlers, extensions and engine parts that the settings name (0.14 s of a crawl's start).
    None of them imports Twisted's reactor, which the crawl installs later."""
    settings = _project_settings()
    for name in ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS"):
        for path, order in settings.getwithbase(name).items():
            if order is not None:
                load_object(path)
    for path in settings.getwithbase("DOWNLOAD_HANDLERS").values():
        if path is not None:
            load_object(path)
    for name in ("DOWNLOADER", "SCHEDULER", "SCHEDULER_PRIORITY_QUEUE", "DUPEFILTER_CLASS",
                 "STATS_CLASS", "LOG_FORMATTER", "REQUEST_FINGERPRINTER_CLASS",
                 "ROBOTSTXT_PARSER", "DNS_RESOLVER", "ITEM_PROCESSOR"):
        load_object(settings[name])


if __name__ == "__main__":
    raise SystemExit(main())
