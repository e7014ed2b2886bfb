"""The state directory's SQLite database: readings, and what else the hub keeps."""
