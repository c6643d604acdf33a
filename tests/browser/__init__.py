"""Helpers for the real-Chromium tests: servers on free ports, the browser, CSP watching."""
