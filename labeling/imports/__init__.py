"""Importers: prompts (CSV, JSONL, XSTest) and external candidates (JSONL, CSV, XSTest, HH-RLHF)."""
