"""Scrapy: discover a site's article URLs, fetch them, and archive every response as WARC.

Spiders do not extract or clean; they leave a WARC file and a manifest for the flows.
"""
