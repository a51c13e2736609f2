"""A toy upstream, written as a new upstream's package would be (docs/architecture.md, "Adding
a source"): tests/integration/test_new_upstream.py adds it with one registry line and its
migration, and runs it through the API, the CLI, coverage and the metrics."""
