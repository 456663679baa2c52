"""Static HTML pages rendered from the warehouse: the data docs (validation results)."""
