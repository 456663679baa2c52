"""#18: property tests of the inputs people and attackers control: site profiles and the
`sql` sandbox (the WARC reader's are in test_bad_archives.py). Bounded in examples and time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sites.profile import (
    ArticleLayout,
    CrawlSettings,
    DateRules,
    Discovery,
    ListingLayout,
    ProfileError,
    SiteProfile,
    load_profile,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- site profiles ---------------------------------------------------------------------------

SECTIONS = {"listing": ListingLayout, "discovery": Discovery, "article": ArticleLayout,
            "dates": DateRules, "crawl": CrawlSettings}
TOP_KEYS = [f.name for f in fields(SiteProfile) if f.name not in SECTIONS
            and f.name not in ("learned", "learned_version")]

scalars = st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from(["espreso", "generic", "demo", "fuzzed", "Europe/Kyiv",
                                     "Mars/Olympus", "../../etc/passwd", "https://x.example",
                                     "ftp://x", "http://u:p@x.example", "(?P<day>\\d+"]))
values = st.one_of(scalars, st.lists(scalars, max_size=4),
                   st.lists(st.lists(st.text(max_size=5), max_size=13), max_size=3))


def _toml(value: Any) -> str:
    """A TOML literal; strings as JSON strings (whose escapes TOML reads, mostly)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)


def _keys(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), st.text(min_size=1, max_size=12))


@st.composite
def profile_text(draw: st.DrawFn) -> str:
    """A profile: mostly one that extends a real one and changes a few keys, sometimes one
    that stands alone, sometimes bytes that are hardly TOML."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    lines = []
    if draw(st.integers(0, 3)):
        lines.append(f"extends = {_toml(draw(st.sampled_from(['espreso', 'generic', 'fuzzed'])))}")
    lines += [f"{json.dumps(key)} = {_toml(draw(values))}"
              for key in draw(st.lists(_keys([*TOP_KEYS, *SECTIONS]), max_size=4, unique=True))]
    # Tables where values belong (and the other way round) are in the mix.
    for table in draw(st.lists(_keys([*SECTIONS, *TOP_KEYS]), max_size=3, unique=True)):
        known = [f.name for f in fields(SECTIONS[table])] if table in SECTIONS else ["x"]
        lines.append(f"[{json.dumps(table)}]")
        lines += [f"{json.dumps(key)} = {_toml(draw(values))}"
                  for key in draw(st.lists(_keys([*known, "body_layers"]), max_size=4,
                                           unique=True))]
    return "\n".join(lines) + "\n"


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("NEWSCORPUS_SITES", str(folder))
    return folder


@FUZZ
@given(text=profile_text())
def test_fuzz_a_profile_loads_or_is_one_error_naming_its_file(profiles, text):
    path = profiles / "fuzzed.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        profile = load_profile("fuzzed")
    except ProfileError as error:  # any other exception fails the test
        assert str(error).startswith(f"{path}: "), error
        return
    assert isinstance(profile, SiteProfile) and profile.tz  # usable: its zone resolves


# --- the sql sandbox --------------------------------------------------------------------------

SECRET = "never-read-this-" + hashlib.sha1(b"newscorpus").hexdigest()
ATTACKS = [
    "COPY (SELECT 1) TO '{db}'", "COPY articles TO '{tmp}/leak.csv'", "EXPORT DATABASE '{tmp}'",
    "ATTACH '{tmp}/other.duckdb' AS o", "DETACH corpus", "INSTALL httpfs", "LOAD httpfs",
    "LOAD '{tmp}/x.duckdb_extension'", "SET enable_external_access = true",
    "SET lock_configuration = false", "RESET lock_configuration", "SET threads = 1000000",
    "PRAGMA threads = 1000000", "CALL pragma_version()", "CHECKPOINT", "VACUUM",
    "CREATE TABLE t AS SELECT 1", "CREATE MACRO m() AS 1", "CREATE SECRET s (TYPE s3)",
    "INSERT INTO articles (article_id) VALUES ('x')", "UPDATE articles SET title = 'x'",
    "DELETE FROM articles", "DROP TABLE articles", "ALTER TABLE articles ADD COLUMN z INT",
    "SELECT * FROM read_text('{secret}')", "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_blob('{secret}')", "SELECT * FROM glob('{tmp}/*')",
    "SELECT * FROM read_parquet('{secret}')", "SELECT * FROM '{secret}'",
    "SELECT * FROM sniff_csv('{secret}')", "SELECT current_setting('memory_limit')",
    "SELECT count(*) FROM articles", "SELECT title FROM articles LIMIT 1",
    "SELECT * FROM duckdb_settings() LIMIT 1", "USE memory", "BEGIN", "COMMIT",
]


@st.composite
def attack(draw: st.DrawFn, tmp: Path, db: Path, secret: Path) -> str:
    """One to three statements of ATTACKS, in any case, with comments and spaces between."""
    picked = draw(st.lists(st.sampled_from(ATTACKS), min_size=1, max_size=3))
    glue = draw(st.sampled_from([";", "; ", ";\n", "; -- x\n", ";/* ; */"]))
    text = glue.join(s.format(tmp=tmp, db=db, secret=secret) for s in picked)
    if draw(st.booleans()):
        text = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in text)
    return draw(st.sampled_from(["", " ", "\n", "/* hi */ "])) + text


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A locked-down connection to a real corpus, as `newscorpus sql` opens it, and a secret
    file beside it that no query may read."""
    from test_warehouse import make_batch, run_info

    from warehouse import sandbox
    from warehouse.db import connect, load_fts
    from warehouse.load import load_run

    folder = tmp_path_factory.mktemp("sandbox-fuzz")
    db = folder / "corpus.duckdb"
    load_run(db, run_info("r1"), make_batch([0, 1]), datetime.now(UTC))
    secret = folder / "secret.csv"
    secret.write_text(f"key\n{SECRET}\n")
    con = connect(db, read_only=True)
    load_fts(con)
    sandbox.lock_down(con)
    settings_before = con.execute("SELECT name, value FROM duckdb_settings()").fetchall()
    yield {"con": con, "db": db, "folder": folder, "secret": secret,
           "bytes": db.read_bytes(), "files": sorted(os.listdir(folder)),
           "settings": settings_before}
    con.close()


@FUZZ
@given(data=st.data())
def test_fuzz_the_sql_sandbox_reads_the_corpus_and_nothing_else(sandboxed, data):
    from warehouse import sandbox

    con = sandboxed["con"]
    query = data.draw(attack(sandboxed["folder"], sandboxed["db"], sandboxed["secret"]))
    try:
        _, rows = sandbox.run(con, query, timeout=10)
    except sandbox.RefusedQueryError as error:  # any other exception fails the test
        assert "\n" not in str(error)
        rows = []
    assert SECRET not in repr(rows)
    assert sandboxed["db"].read_bytes() == sandboxed["bytes"]
    assert sorted(os.listdir(sandboxed["folder"])) == sandboxed["files"]
    assert con.execute("SELECT name, value FROM duckdb_settings()").fetchall() == \
        sandboxed["settings"]
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (2,)
