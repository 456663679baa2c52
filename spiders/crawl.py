"""Run one crawl in this process: `python -m spiders.crawl --site demo --out DIR ...`.

The flows start this as a subprocess, because Twisted's reactor cannot be restarted inside
a long-lived (Prefect) process.
"""

from __future__ import annotations

import argparse

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from sites import load_profile
from spiders import settings as defaults
from spiders.news import NewsSpider


def main(argv: list[str] | None = None) -> int:
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
    settings = Settings()
    settings.setmodule(defaults, priority="project")
    settings.update({**defaults.for_profile(profile), "LOG_LEVEL": args.log_level},
                    priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(NewsSpider)
    process.crawl(crawler, site=args.site, base_url=profile.base_url, out_dir=args.out,
                  run_id=args.run_id, max_pages=args.max_pages, plan=args.plan)
    process.start()
    stats = crawler.stats
    return 0 if stats.get_value("finish_reason") == "finished" \
        and not stats.get_value("newscorpus/archive_error") else 1


if __name__ == "__main__":
    raise SystemExit(main())
