"""trafilatura's own fetch plus extract, on both cores: the peer of `newscorpus run`.

    python benchmarks/trafilatura_peer.py URLS_FILE OUT_DIR [--config FILE] [--workers 2]

Its CLI draws one URL per host at a time (courlan's per-host back-off), so on one site it
fetches one page after another: 19 pages/s on the demo site. Here its library does the
same work as a user would arrange it for speed: each of `--workers` processes fetches its
share of the URLs with `trafilatura.fetch_url` on 8 threads and extracts each page with
`trafilatura.extract` (metadata included), writing one JSON document per page as the CLI
does. The config file is trafilatura's, with its loopback guard and sleep turned off.
"""

from __future__ import annotations

import argparse
import hashlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path

_THREADS = 8


def _work(urls: list[str], out_dir: Path, config_file: Path | None) -> int:
    import trafilatura
    from trafilatura.settings import use_config

    config: ConfigParser = use_config(str(config_file) if config_file else None)
    written = 0
    with ThreadPoolExecutor(_THREADS) as pool:
        for url, html in zip(urls, pool.map(lambda u: trafilatura.fetch_url(u, config=config),
                                            urls), strict=True):
            document = trafilatura.extract(html, url=url, output_format="json",
                                           with_metadata=True, config=config) if html else None
            if document:
                name = hashlib.sha1(url.encode()).hexdigest()
                (out_dir / f"{name}.json").write_text(document, encoding="utf-8")
                written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    urls = args.urls.read_text(encoding="utf-8").split()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    shares = [urls[i::args.workers] for i in range(args.workers)]
    with ProcessPoolExecutor(args.workers) as pool:
        written = sum(pool.map(_work, shares, [args.out_dir] * args.workers,
                               [args.config] * args.workers))
    print(f"{written} documents of {len(urls)} URLs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
