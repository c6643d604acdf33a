"""Fieldguide's HTTP service and command line: wires the indexer, chatbot and freshness job."""
