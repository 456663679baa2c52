"""Score the generic extraction path on the real pages in ../shared/realpages.

    python benchmarks/realpages.py [--realpages ../shared/realpages] [--site generic] [--jobs N]

Writes the predictions next to a temporary folder, runs the set's own score.py on them, and
prints its lines plus pages/s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extract.workers import extract_many  # noqa: E402
from sites import load_profile  # noqa: E402


def predict(folder: Path, site: str, field: str, jobs: int) -> tuple[list[dict], float]:
    profile = load_profile(site)
    rows = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()
            if line.strip()]
    pages = [(gzip.decompress((folder / row["file"]).read_bytes()), row["url"], profile, None)
             for row in rows]
    started, out = time.perf_counter(), []
    for row, record in zip(rows, extract_many(pages, jobs), strict=True):
        value = record.body if field == "body" else (
            record.published_at.isoformat() if record.published_at else None)
        out.append({"id": row["id"], field if field == "body" else "published": value})
    return out, len(rows) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realpages", type=Path, default=ROOT.parent / "shared" / "realpages")
    parser.add_argument("--site", default="generic")
    parser.add_argument("--jobs", type=int, default=0, help="processes; 0 = one per core")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="realpages-"))
    for kind, field in (("bodies", "body"), ("dates", "published")):
        predictions, rate = predict(args.realpages / kind, args.site, field, args.jobs)
        path = work / f"{kind}.jsonl"
        path.write_text("\n".join(json.dumps(p) for p in predictions))
        score = subprocess.run([sys.executable, str(args.realpages / "score.py"), kind,
                                str(path)], capture_output=True, text=True, check=True)
        print(f"{score.stdout.strip()}  ({rate:.0f} pages/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
