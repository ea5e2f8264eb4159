"""The SQLite backend of the queue (the default): one WAL file."""
