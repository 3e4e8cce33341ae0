"""Persistence: the schema, the connection, and the queries. Nothing else touches SQL."""
