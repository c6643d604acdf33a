"""Fieldguide's search engine: parse, lint, index and search a knowledge base of Markdown articles."""
