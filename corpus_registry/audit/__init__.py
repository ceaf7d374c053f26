"""Audit: read a dataset (release folder, Parquet/JSONL files, Hub repo), check every row against
the registry and a licence policy, and report.

Uses :mod:`corpus_registry.registry` and the release format of :mod:`corpus_registry.build`.
"""
