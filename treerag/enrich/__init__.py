"""Enrichment: summaries (and optionally embeddings) of files and their main symbols.

``local`` summaries are derived offline at index time; remote providers
(any OpenAI-compatible endpoint) run from a queue in worker processes, most
important files first, within a budget. See docs/ENRICHMENT.md.
"""
