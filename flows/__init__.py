"""Prefect: the flows that crawl, extract, clean, validate and load."""
