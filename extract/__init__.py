"""Extraction and cleaning: pure functions from archived pages to corpus records.

Nothing here touches the network, Prefect, Great Expectations or DuckDB, so a fresh crawl and
a reprocessed archive go through exactly the same code.
"""
