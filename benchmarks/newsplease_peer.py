"""news-please's own fetch plus extract, on both cores: a peer of `newscorpus run`.

    <venv with news-please>/bin/python benchmarks/newsplease_peer.py URLS_FILE OUT_DIR

It runs in a venv of its own (benchmarks/news-please-constraints.txt; benchmarks/commands.py
makes it): news-please pins a Scrapy and brings packages that clash with the project's pins.
Its CLI crawls nothing on a URL with a port (../shared/DESIGN.md), so this is its library, as
its README shows it: `NewsPlease.from_urls` fetches the URLs on a thread each, then extracts
them in a process pool on every core. Given 10,000 URLs at once it would start 10,000
threads, so it is given them `--chunk` at a time. Images are not fetched
(`fetch_images=False`): no other side fetches any. Each article is written as one JSON
document (title, publication date, text).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def _offline_suffix_list() -> None:
    """tldextract (newspaper calls it) downloads the public suffix list on first use; the
    benchmark reaches only 127.0.0.1, so it gets the copy tldextract ships with."""
    from tldextract import tldextract

    tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--chunk", type=int, default=200)
    args = parser.parse_args()
    _offline_suffix_list()
    from newsplease import NewsPlease

    urls = args.urls.read_text(encoding="utf-8").split()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for start in range(0, len(urls), args.chunk):
        found = NewsPlease.from_urls(urls[start:start + args.chunk],
                                     request_args={"timeout": 30}, fetch_images=False)
        for url, article in found.items():
            if article and article.title:
                document = {"url": url, "title": article.title, "text": article.maintext,
                            "date": str(article.date_publish or "")}
                name = hashlib.sha1(url.encode()).hexdigest()
                (args.out_dir / f"{name}.json").write_text(
                    json.dumps(document, ensure_ascii=False), encoding="utf-8")
                written += 1
    print(f"{written} documents of {len(urls)} URLs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
