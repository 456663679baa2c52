"""A site redesign, followed through the demo site's time travel: before the switch its articles
come in the espreso markup, after it in another (other class names, less structured data, the
"Read also" feed inside the article). The corpus must not notice, except in provenance."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import get_json
from conftest import sql_rows as rows
from test_cli import newscorpus
from test_incremental import T1, T2

from demosite.corpus import build_site
from demosite.server import start

REDESIGN = datetime.fromisoformat("2025-02-06T00:00:00+02:00")  # between T1 and T2


@pytest.fixture(scope="module")
def redesign(prefect_backend, tmp_path_factory):
    """A run as of T1 (old markup); a run as of T2 (redesigned); a full re-crawl as of T2."""
    from flows.pipeline import news_pipeline

    root = tmp_path_factory.mktemp("redesign")
    db = root / "corpus.duckdb"
    site = start(build_site().at(T1).redesigned_at(REDESIGN))
    try:
        first = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        site.travel(T2)
        since = T1.isoformat().replace("+", "%2B")
        truth = get_json(f"{site.base_url}/__truth__?since={since}")
        assert truth["redesigned"] and first["status"] == "completed"
        second = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root))
        full = news_pipeline(base_url=site.base_url, db=str(db), data_dir=str(root),
                             mode="full")
        yield {"db": db, "truth": truth, "second": second, "full": full}
    finally:
        site.stop()


def test_the_run_after_the_switch_finds_what_changed_and_nothing_else(redesign):
    truth, second = redesign["truth"], redesign["second"]
    loadable = [a for a in truth["articles"] if a["change"] and a["expected"] == "loaded"]
    assert second["status"] == "completed"
    assert second["new"] == sum(a["change"] == "new" for a in loadable) > 0
    assert second["updated"] == sum(a["change"] == "updated" for a in loadable) > 0
    assert second["unchanged"] == 0


def test_re_fetched_in_the_new_markup_every_article_is_unchanged(redesign):
    """A full re-crawl after the switch: same content hashes, the same pages held back."""
    truth, full = redesign["truth"], redesign["full"]
    expected = truth["expected_counts"]
    assert full["new"] == full["updated"] == 0
    assert full["unchanged"] == expected["loaded"]
    assert full["quarantined"] == expected["quarantined"]
    assert full["failed"] == expected.get("failed", 0)


def test_every_loaded_article_equals_the_truth(redesign):
    truth = {a["url"]: a for a in redesign["truth"]["articles"] if a["expected"] == "loaded"}
    stored = rows(redesign["db"], "SELECT url, title, published_at, tags FROM articles")
    assert {url for url, *_ in stored} == set(truth)
    for url, title, published, tags in stored:
        assert title == truth[url]["title"], url
        assert published == datetime.fromisoformat(truth[url]["published_at"]), url
        assert sorted(tags) == sorted(truth[url]["tags"]), url


def test_articles_first_seen_after_the_switch_name_the_fallback_layers(redesign):
    new = [a["url"] for a in redesign["truth"]["articles"]
           if a["change"] == "new" and a["expected"] == "loaded"]
    layers = rows(redesign["db"],
                  "SELECT provenance ->> 'body', provenance ->> 'tags', "
                  "provenance ->> 'published_at', count(*) FROM articles "
                  "WHERE list_contains(?, url) GROUP BY ALL", new)
    assert {body for body, *_ in layers} == {"generic"}
    assert {tags for _, tags, *_ in layers} <= {"generic", None}  # None: the article has none
    dated = {published for _, _, published, _ in layers}
    assert "dateline" in dated and dated <= {"jsonld", "meta", "dateline"}
    assert sum(n for *_, n in layers) == len(new)


def test_calibration_learns_the_new_layout_and_extraction_uses_it(redesign, tmp_path):
    """From the redesigned pages with JSON-LD: the new selectors, each in agreement with the
    structured data; once saved, the pages read through the learned layer, unchanged."""
    warc = next(p for p in sorted(redesign["db"].parent.glob("archive/demo/*/crawl.warc.gz"))
                if redesign["full"]["run_id"] in str(p))
    env = {"NEWSCORPUS_DATA_DIR": str(tmp_path)}
    shown = newscorpus("sites", "calibrate", "--site", "demo", str(warc), "--json",
                       cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    learned = json.loads(shown.stdout)["fields"]
    assert {name: field["selector"] for name, field in learned.items()} == {
        "title": "h1.post-heading", "subtitle": "p.post-lead", "date": "p.post-meta",
        "body": "div.post-content", "tags": "div.post-topics a"}
    # Not all 100%: a page whose structured date is its defect (six years ahead) disagrees
    # with its own date line.
    assert all(field["agreement"] >= 0.95 for field in learned.values()), learned
    assert not (tmp_path / "learned").exists()  # nothing kept without --save

    before = _extracted(warc, tmp_path, env)
    saved = newscorpus("sites", "calibrate", "--site", "demo", str(warc), "--save",
                       cwd=tmp_path, env=env)
    assert saved.returncode == 0 and (tmp_path / "learned" / "demo" / "v1.toml").is_file()
    after = _extracted(warc, tmp_path, env)
    assert {u: {k: v for k, v in r.items() if k != "provenance"} for u, r in after.items()} \
        == {u: {k: v for k, v in r.items() if k != "provenance"} for u, r in before.items()}
    bodies = {r["provenance"].get("body") for r in after.values() if r["body"]}
    assert bodies == {"learned"}


def _extracted(warc, cwd, env):
    result = newscorpus("extract", "--site", "demo", "--jobs", "1", str(warc), cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return {r["url"]: r for r in map(json.loads, result.stdout.splitlines())
            if r["title"] and "/news" not in r["url"]}
