"""URL identity: one canonical form per article, so tracking links never make duplicates."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

_TRACKING_PREFIXES = ("utm_", "mc_", "_hs", "pk_")
_TRACKING_KEYS = frozenset({"fbclid", "gclid", "dclid", "yclid", "msclkid", "igshid", "ref",
                            "ref_src", "cmpid", "_ga", "_gl", "spm"})


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in _TRACKING_KEYS or key.startswith(_TRACKING_PREFIXES)


def canonicalize(url: str, base: str | None = None) -> str:
    """Absolute URL without tracking parameters or fragment, in w3lib's canonical form."""
    # An absolute address joins to itself, up to what `_canonical` normalizes anyway.
    absolute = url if not base or url.startswith(("http://", "https://")) else urljoin(base, url)
    return _canonical(absolute)


@lru_cache(maxsize=4096)
def _canonical(url: str) -> str:
    """Cached: a page's address is canonicalized where the page is extracted and again where
    its batch is cleaned, and its canonical link is most often that address."""
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _is_tracking(k)])
    cleaned = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))
    return canonicalize_url(cleaned)


def on_site(url: str, host: str) -> bool:
    """Whether `url` belongs to the site at `host` (subdomains included)."""
    netloc = urlsplit(url).netloc.lower()
    return netloc == host or netloc.endswith("." + host)


def article_id(canonical_url: str) -> str:
    """Stable article id: a hash of the canonical URL."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]
