"""The demo site serves what its truth says, deterministically, modelled on the seed page."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from demosite import render
from demosite.corpus import build_site
from demosite.seed import seed_page
from demosite.server import start


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_same_seed_same_site_other_seed_other_site():
    one, two, other = build_site(120, seed=3), build_site(120, seed=3), build_site(120, seed=4)
    assert one.articles == two.articles
    assert [a.slug for a in one.articles] != [a.slug for a in other.articles]


def test_too_small_a_site_is_refused():
    with pytest.raises(ValueError, match="at least"):
        build_site(10)


def test_default_site_stands_at_the_seed_capture(truth):
    assert truth["as_of"] == "2025-02-10T12:30:00+02:00"
    assert 200 <= len(truth["articles"]) <= 400
    newest = max(a["published_at"] for a in truth["articles"])
    assert newest == "2025-02-10T12:28:00+02:00"


def test_first_listing_pages_reproduce_the_seed_feed(demo):
    _, feed = seed_page()
    html = "".join(fetch(f"{demo.base_url}/news?page={p}")[1] for p in (1, 2, 3))
    positions = [html.find(entry.title.replace("'", "&#39;").replace('"', "&#34;"))
                 for entry in feed]
    assert -1 not in positions
    assert positions == sorted(positions)
    assert "2025, Monday" in html and "10 February" in html and "Exclusive" in html


def test_truth_states_are_served(demo, truth):
    states = {a["state"] for a in truth["articles"]}
    assert {"ok", "not_found", "empty_body", "missing_date"} <= states
    for article in truth["articles"]:
        status, html = fetch(article["url"])
        if article["state"] == "not_found":
            assert status == 404
            continue
        assert status == 200
        if article["state"] == "empty_body":
            assert '<div class="article__text">\n  </div>' in html
        if article["state"] == "missing_date":
            assert "article__date" not in html and "datePublished" not in html


def test_layout_variety(truth):
    articles = truth["articles"]
    assert any(a["lang"] == "uk" for a in articles)
    assert any(not a["jsonld"] for a in articles) and sum(a["jsonld"] for a in articles) > len(
        articles) / 2
    assert any(not a["tags"] for a in articles)
    assert {"Exclusive", "Review", "Updated"} <= {label for a in articles for label in a["labels"]}


def test_tracking_link_duplicates_a_listed_article(demo, truth):
    tracked = truth["tracked_url"]
    _, page_one = fetch(f"{demo.base_url}/news?page=1")
    path = tracked.removeprefix(demo.base_url)
    assert f'href="{path.replace("&", "&amp;")}"' in page_one
    plain_path = path.split("?")[0]
    pages = "".join(fetch(f"{demo.base_url}/news?page={p}")[1]
                    for p in range(1, truth["listing_pages"] + 1))
    assert f'href="{plain_path}"' in pages
    assert fetch(tracked)[1] == fetch(tracked.split("?")[0])[1]


def test_seed_article_is_served_verbatim(demo, truth):
    article, _ = seed_page()
    seed = next(a for a in truth["articles"] if a["title"] == article.title)
    status, html = fetch(seed["url"])
    assert status == 200
    assert "24 January, 2025 Friday" in html and "12:37" in html
    assert "client/title.list_title" in html
    assert '<span class="article__tags-title">Tags:</span>\n  </div>' in html
    assert "Issue of trust" in html and "Read also:" in html


def test_robots_and_unknown_pages(demo):
    status, robots = fetch(f"{demo.base_url}/robots.txt")
    assert status == 200 and "Disallow: /__truth__" in robots
    assert fetch(f"{demo.base_url}/no-such-article")[0] == 404
    assert fetch(f"{demo.base_url}/news?page=999")[0] == 404


def test_server_binds_loopback_only():
    site = start(build_site(60))
    try:
        assert site.base_url.startswith("http://127.0.0.1:")
        assert site.server.server_address[0] == "127.0.0.1"
    finally:
        site.stop()


def test_a_prerendered_site_serves_the_pages_and_sitemaps_it_renders_on_demand():
    """Benchmarks serve the site pre-rendered (`demo-site --prerender`): the same bytes."""
    site = start(build_site(120, seed=5))
    try:
        months = render.months(site.server.site)
        paths = ["/sitemap.xml", f"/sitemap-{months[0]}.xml", f"/sitemap-{months[-1]}.xml",
                 f"/{site.server.site.visible[0].slug}"]
        on_demand = [fetch(site.base_url + path) for path in paths]
        site.server.prerender()
        assert len(site.server.sitemaps) > 2 and site.server.pages
        assert [fetch(site.base_url + path) for path in paths] == on_demand
        assert all(status == 200 and body for status, body in on_demand)
    finally:
        site.stop()
