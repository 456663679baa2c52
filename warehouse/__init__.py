"""DuckDB: the corpus file, its migrations, and the one step that writes it (the load)."""
