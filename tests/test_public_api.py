"""The public API is deliberate: every name in ``__all__`` resolves, and the list is sorted."""

import corpus_registry


def test_exported_members() -> None:
    names = corpus_registry.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(corpus_registry, name) is not None, name
    for name in ("audit", "build_release", "ingest", "withdraw"):  # functions, not the job packages
        assert callable(getattr(corpus_registry, name)), name


def test_errors_share_one_base() -> None:
    for name in corpus_registry.__all__:
        obj = getattr(corpus_registry, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, corpus_registry.CorpusRegistryError), name
