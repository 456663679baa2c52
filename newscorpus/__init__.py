"""newscorpus: a news site's articles as an analytical corpus in DuckDB."""

__version__ = "0.1.0"
