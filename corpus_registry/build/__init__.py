"""Build: a spec's candidates read from the registry, quality filters, exact and near dedup,
Parquet shards, dataset card, funnel and manifest; and the push of a built release to the Hub.

Uses :mod:`corpus_registry.registry`; never :mod:`corpus_registry.audit`.
"""
