"""Register: the database (models, engine, migrations), sources and their licences, readers,
language identification, ingest, the content-addressed document store, lookups and withdrawals.

Nothing here imports from :mod:`corpus_registry.build` or :mod:`corpus_registry.audit`.
"""
