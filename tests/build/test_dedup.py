"""Exact and near-duplicate removal on the real near-duplicate editions and translations."""

from __future__ import annotations

import random

import numpy as np
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus_registry.build.dedup import (
    DedupConfig,
    Duplicate,
    ExactDedup,
    LSHIndex,
    MinHasher,
    NearDedup,
    choose_bands,
    estimated_jaccard,
    fold_tokens,
    keep_rank,
)
from corpus_registry.build.dedup import minhash
from corpus_registry.build.dedup.quality import text_quality
from corpus_registry.build.filters import BuildDoc

from tests.texts import DATA, make_doc, read_body

# the near-duplicate editions of data/NEAR_DUPLICATES.md: (path, encoding) pairs
EDITIONS = {
    "tour-du-monde": (
        ("gutenberg-fr/pg800-le-tour-du-monde/800-8.txt", "latin-1"),
        ("gutenberg-fr/pg3456-le-tour-du-monde-walker-edition/3456-8.txt", "latin-1"),
    ),
    "terre-lune": (
        ("gutenberg-fr/pg799-de-la-terre-a-la-lune/799-0.txt", "utf-8-sig"),
        ("gutenberg-variants/pg799/799-8.txt", "latin-1"),
    ),
    "boule-de-suif": (
        ("gutenberg-fr/pg10746-boule-de-suif/10746-8.txt", "latin-1"),
        ("gutenberg-variants/pg10746/10746.txt", "ascii"),
    ),
    "alice": (
        ("gutenberg-en-de-es-it/en/pg11-alice/11-0.txt", "utf-8-sig"),
        ("gutenberg-variants/pg11/old/alice30.txt", "ascii"),
    ),
}
GENESIS_ENCODINGS = {"swedish.txt": "cp865", "lolcat.txt": "utf-8", "portuguese.txt": "utf-8"}


def read(path: str, encoding: str) -> str:
    return read_body(path, encoding)



def jaccard(hasher: MinHasher, a: str, b: str) -> float:
    sa, sb = hasher.shingle_hashes(a), hasher.shingle_hashes(b)
    return len(np.intersect1d(sa, sb)) / len(np.union1d(sa, sb))


def passages(text: str, words: int = 200) -> list[str]:
    tokens = text.split()
    return [" ".join(tokens[i : i + words]) for i in range(0, len(tokens) - words, words)]


@pytest.fixture(scope="module")
def editions() -> dict[str, tuple[str, str]]:
    return {name: (read(*a), read(*b)) for name, (a, b) in EDITIONS.items()}


@pytest.fixture(scope="module")
def genesis() -> dict[str, str]:
    return {
        p.name: read(str(p.relative_to(DATA)), GENESIS_ENCODINGS.get(p.name, "latin-1"))
        for p in sorted((DATA / "nltk-genesis" / "genesis").glob("*.txt"))
    }


@pytest.fixture(scope="module")
def udhr() -> dict[str, str]:
    return {
        p.name: read(str(p.relative_to(DATA)), "utf-8-sig")
        for p in sorted((DATA / "nltk-udhr" / "udhr").glob("*.txt"))
    }


def test_folding_sees_through_punctuation_case_accents_and_ligatures() -> None:
    assert (
        fold_tokens("Gardens--maison") == fold_tokens("Gardens -- maison") == ["gardens", "maison"]
    )
    assert fold_tokens("le Tour du Monde?") == fold_tokens("le Tour du Monde ?")
    assert fold_tokens("À l'un, Œuvre, cœur, Æsop") == fold_tokens("A l'un, oeuvre, coeur, aesop")
    assert fold_tokens("ﬁn ﬂeur Straße _italique_") == ["fin", "fleur", "strasse", "italique"]
    assert fold_tokens("l’été") == fold_tokens("l'ete") == ["l", "ete"]
    assert fold_tokens("pro\u00adgramme ΣΟΦΊΑ") == ["programme", "σοφια"]  # soft hyphen, Greek
    assert fold_tokens("人人生而自由 ١٢٣ 𝔸") == ["人人生而自由", "١٢٣", "a"]


def test_real_near_duplicate_editions_are_merged(editions) -> None:
    hasher = MinHasher()
    for name, (a, b) in editions.items():
        assert jaccard(hasher, a, b) >= 0.85, name
        near = NearDedup()
        near.add(make_doc(f"{name}/a", a, date="1900"))
        near.add(make_doc(f"{name}/b", b))
        result = near.finalize()
        assert result.kept_keys == [f"{name}/a"], name  # the dated one, by the keep rule
        dup = result.duplicate_of[f"{name}/b"]
        assert dup.kept_key == f"{name}/a" and dup.similarity >= 0.85


def test_accent_stripped_edition_needs_folding(editions) -> None:
    a, b = editions["boule-de-suif"]
    words_a, words_b = a.split(), b.split()
    raw_a = {" ".join(words_a[i : i + 5]) for i in range(len(words_a) - 4)}
    raw_b = {" ".join(words_b[i : i + 5]) for i in range(len(words_b) - 4)}
    assert len(raw_a & raw_b) / len(raw_a | raw_b) < 0.5  # raw shingles barely overlap
    assert jaccard(MinHasher(), a, b) > 0.99


def test_translations_are_never_merged(genesis, udhr) -> None:
    hasher = MinHasher()
    assert jaccard(hasher, genesis["english-kjv.txt"], genesis["english-web.txt"]) < 0.3
    for texts in (genesis, udhr):
        assert len(texts) in (8, 40)
        near = NearDedup()
        near.add_many(make_doc(name, text) for name, text in texts.items())
        result = near.finalize()
        assert result.duplicate_of == {} and len(result.kept_keys) == len(texts)
    signatures = hasher.signatures(list(genesis.values()))
    for i in range(len(signatures)):
        for j in range(i + 1, len(signatures)):
            assert estimated_jaccard(signatures[i], signatures[j]) < 0.3


def test_exact_dedup_keep_rule() -> None:
    text = "Le même texte, mot pour mot, dans trois sources différentes."
    docs = [
        make_doc("b/undated", text),
        make_doc("c/late", text, date="2001-05-01"),
        make_doc("a/early", text, date="1998"),
        make_doc("z/other", text + " Autre."),
    ]
    exact = ExactDedup()
    exact.add_many(docs)
    result = exact.finalize()
    assert result.kept_keys == ["a/early", "z/other"]
    assert result.duplicate_of == {
        "b/undated": Duplicate("a/early", 1.0),
        "c/late": Duplicate("a/early", 1.0),
    }
    # no dates: most words (same hash means same words), then smallest key
    exact = ExactDedup()
    exact.add_many([make_doc("k2", text), make_doc("k1", text), make_doc("k3", text)])
    assert exact.finalize().kept_keys == ["k1"]
    assert keep_rank(date="1850", word_count=10, key="b") < keep_rank(
        date=None, word_count=99, key="a"
    )
    assert keep_rank(date=None, word_count=99, key="b") < keep_rank(
        date=None, word_count=10, key="a"
    )
    with pytest.raises(ValueError, match="k1"):
        exact.add(make_doc("k1", "encore"))


def test_the_most_permissive_licence_is_kept_first() -> None:
    """A CC0 copy is kept over an identical (or near-identical) CC-BY-SA one, whatever the dates,
    lengths and keys say: the licence tier is the keep rule's first key."""
    text = read_body("gutenberg-fr/pg10746-boule-de-suif/10746-8.txt", "latin-1")[:20_000]
    sa = make_doc("a/share-alike", text, date="1880")
    sa.tier = "share_alike"
    cc0 = make_doc("z/cc0", text, date="2020")
    cc0.tier = "public_domain"
    exact = ExactDedup()
    exact.add_many([sa, cc0])
    assert exact.finalize().duplicate_of == {"a/share-alike": Duplicate("z/cc0", 1.0)}
    near = NearDedup()
    longer = make_doc("a/share-alike", text + " Fin.", date="1880")  # more words, earlier: still second
    longer.tier = "share_alike"
    near.add_many([longer, cc0])
    assert near.finalize().kept_keys == ["z/cc0"]
    assert keep_rank(tier="public_domain", date=None, word_count=1, key="z") < keep_rank(
        tier="attribution", date="1800", word_count=99, key="a")
    assert keep_rank(tier="share_alike", date=None, word_count=1, key="z") < keep_rank(
        tier=None, date="1800", word_count=99, key="a")  # an unknown tier comes last


def _corpus_with_duplicates(seed: int) -> tuple[list[BuildDoc], set[tuple[str, str]]]:
    """200-word passages of Germinal, plus lightly edited copies and exact copies of some."""
    rng = random.Random(seed)
    base = passages(read("gutenberg-fr/pg5711-germinal/5711-8.txt", "latin-1"))[:400]
    docs = [make_doc(f"germinal/{i:03d}", p) for i, p in enumerate(base)]
    pairs = set()
    for i in rng.sample(range(len(base)), 40):
        words = base[i].split()
        for _ in range(3):  # ~1.5 % of words replaced: Jaccard ≈ 0.86-0.9
            words[rng.randrange(len(words))] = "remplacé"
        key = f"edited/{i:03d}"
        docs.append(make_doc(key, " ".join(words), date="1885"))
        pairs.add((f"germinal/{i:03d}", key))
    for i in rng.sample(range(len(base)), 10):
        docs.append(make_doc(f"copy/{i:03d}", base[i]))
    return docs, pairs


def test_near_dedup_finds_edited_copies_with_the_keep_rule() -> None:
    docs, pairs = _corpus_with_duplicates(seed=3)
    near = NearDedup()
    near.add_many(docs)
    result = near.finalize()
    for original, edited in pairs:
        # the edited copy is dated, so it is kept and the undated original points at it
        assert result.duplicate_of[original].kept_key == edited
        assert 0.75 <= result.duplicate_of[original].similarity <= 1.0

    def kept_for(key: str) -> str:
        return result.duplicate_of[key].kept_key if key in result.duplicate_of else key

    copies = {d.key for d in docs if d.key.startswith("copy/")}
    for key in copies:
        original = f"germinal/{key[5:]}"
        assert kept_for(key) == kept_for(original)
        if kept_for(key) in (key, original):  # not also edited: the smaller key of the two wins
            assert kept_for(key) == key and result.duplicate_of[original] == Duplicate(key, 1.0)
    expected = {o for o, _ in pairs} | copies | {f"germinal/{k[5:]}" for k in copies}
    assert set(result.duplicate_of) <= expected
    assert result.stats["dropped"] == len(result.duplicate_of) == len(docs) - len(result.kept_keys)


def test_results_do_not_depend_on_input_order() -> None:
    docs, _ = _corpus_with_duplicates(seed=5)
    results = []
    for shuffle_seed in (0, 1, 2):
        shuffled = docs[:]
        random.Random(shuffle_seed).shuffle(shuffled)
        near = NearDedup(batch_size=64)
        near.add_many(shuffled)
        exact = ExactDedup()
        exact.add_many(shuffled)
        results.append((near.finalize(), exact.finalize()))
    (near0, exact0) = results[0]
    assert len(near0.duplicate_of) >= 45 and len(exact0.duplicate_of) == 10
    for near_r, exact_r in results[1:]:
        assert near_r.kept_keys == near0.kept_keys
        assert near_r.duplicate_of == near0.duplicate_of
        assert exact_r.kept_keys == exact0.kept_keys
        assert exact_r.duplicate_of == exact0.duplicate_of


def test_bands_bucketed_in_threads_give_the_same_pairs() -> None:
    docs, _ = _corpus_with_duplicates(seed=6)
    near = NearDedup(batch_size=64)
    near.add_many(docs)
    order = near.canonical_order()
    pairs = near.index.candidate_pairs(order)
    assert len(pairs) >= 45
    assert np.array_equal(near.index.candidate_pairs(order, threads=3), pairs)
    assert near.finalize(threads=2) == near.finalize()


def test_signatures_are_deterministic_and_batch_independent() -> None:
    texts = passages(read("gutenberg-fr/pg4650-candide/4650-8.txt", "latin-1"))[:50]
    batch = MinHasher(seed=7).signatures(texts)
    small_batches = MinHasher(seed=7, batch_chars=3000).signatures(texts)
    assert batch.dtype == np.uint32 and batch.shape == (50, 256)
    assert np.array_equal(batch, small_batches)
    assert np.array_equal(MinHasher(seed=7).signature(texts[9]), batch[9])
    assert not np.array_equal(MinHasher(seed=8).signature(texts[9]), batch[9])
    # pinned values: signatures may be stored, so hashing must never change silently
    assert (
        MinHasher(num_perm=4).signature("Le tour du monde en quatre-vingts jours").tolist()
        == PINNED_SIGNATURE
    )


PINNED_SIGNATURE = [1351981618, 75686859, 894517088, 80394779]  # 32-bit permutations since issue 16


def test_short_and_empty_texts() -> None:
    hasher = MinHasher()
    empty, short, same_short, other = hasher.signatures(["", "deux mots", "Deux   MOTS!", "autre"])
    assert (empty == 0xFFFFFFFF).all()
    assert np.array_equal(short, same_short) and not np.array_equal(short, other)
    near = NearDedup()
    near.add_many([make_doc("a", "deux mots"), make_doc("b", "Deux mots !"), make_doc("c", "x y")])
    assert near.finalize().duplicate_of == {"b": Duplicate("a", 1.0)}


def test_estimate_tracks_true_jaccard() -> None:
    rng = random.Random(11)
    hasher = MinHasher()
    base = passages(read("gutenberg-fr/pg13951-les-trois-mousquetaires/13951-8.txt", "latin-1"))
    errors = []
    for text in base[:60]:
        words = text.split()
        for _ in range(rng.randrange(1, 12)):
            words[rng.randrange(len(words))] = f"mot{rng.randrange(10**6)}"
        edited = " ".join(words)
        true = jaccard(hasher, text, edited)
        errors.append(estimated_jaccard(hasher.signature(text), hasher.signature(edited)) - true)
    assert abs(float(np.mean(errors))) < 0.01  # unbiased
    assert float(np.std(errors)) < 0.035  # sqrt(J(1-J)/256) <= 0.031


def test_lsh_parameters_and_clusters() -> None:
    assert choose_bands(num_perm=256, threshold=0.75) == (36, 7)
    near = NearDedup()
    assert near.verify_threshold == pytest.approx(0.75)
    assert (near.index.bands, near.index.rows) == (36, 7)
    hasher = MinHasher()
    texts = passages(read("gutenberg-fr/pg11131-pierre-et-jean/11131-8.txt", "latin-1"))[:20]
    index = LSHIndex(bands=36, rows=7)
    signatures = hasher.signatures(texts + [texts[4], texts[4] + " fin"])
    for i, signature in enumerate(signatures):
        index.add(f"k{i:02d}", signature)
    assert len(index) == 22
    assert index.clusters() == [["k04", "k20", "k21"]]
    with pytest.raises(ValueError, match="LSH needs"):
        LSHIndex(bands=40, rows=7).add("x", signatures[0])


def test_memory_does_not_hold_texts() -> None:
    near = NearDedup(batch_size=10)
    docs = [make_doc(f"d{i}", f"texte numéro {i} " * 50) for i in range(25)]
    near.add_many(docs)
    assert len(near._pending) == 5  # signed in batches, then the texts are let go
    assert near._signatures.dtype == np.uint16 and near._signatures.shape[1] == 256
    assert near.index._hashes.dtype == np.uint64 and near.index._hashes.shape[1] == 36


def test_dedup_config() -> None:
    near = DedupConfig.model_validate({"threshold": 0.9, "num_perm": 128}).near_dedup()
    assert near.threshold == 0.9 and near.hasher.num_perm == 128
    with pytest.raises(pydantic.ValidationError, match="treshold"):
        DedupConfig.model_validate({"treshold": 0.9})


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="threshold"):
        NearDedup(threshold=1.5)
    with pytest.raises(ValueError, match="num_perm"):
        MinHasher(num_perm=0)


def test_signatures_computed_elsewhere_give_the_same_result() -> None:
    docs, _ = _corpus_with_duplicates(seed=9)
    direct = NearDedup()
    direct.add_many(docs)
    hasher = MinHasher()  # e.g. in a worker process, same parameters
    signatures = hasher.signatures([d.text for d in docs])
    remote = NearDedup()
    for doc, signature in zip(docs, signatures):
        remote.add_signature(  # the worker measures the text's quality too (the keep rule's second term)
            key=doc.key, signature=signature, date=doc.date, word_count=doc.word_count,
            quality=text_quality(doc.text, doc.language),
        )
    assert remote.finalize() == direct.finalize()
    with pytest.raises(ValueError, match="shape"):
        NearDedup().add_signature(key="x", signature=signatures[0][:10])
    # a caller that ranked every document by the keep rule itself passes positions instead
    ranks = [keep_rank(quality=text_quality(d.text, d.language), date=d.date, word_count=d.word_count, key=d.key)
             for d in docs]
    position = {r: i for i, r in enumerate(sorted(ranks))}
    ranked = NearDedup()
    ranked.add_signatures(keys=[d.key for d in docs], signatures=signatures,
                          ranks=[position[r] for r in ranks], unique=True)
    assert ranked.finalize() == direct.finalize()


# The signing kernel takes shortcuts (a code point table that folds NFC text as its decomposition
# would, token hashes read off one running sum); these pin them to their plain definitions.
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


def _reference_codes(text: str) -> list[int]:
    """Fold by definition: decompose the string (NFKD + expansions), then fold each character."""
    table = minhash._char_table()
    codes = [int(table[ord(c)]) if ord(c) <= 0xFFFF else ord(c) for c in minhash._prepare(text)]
    return [c for c in codes if c != minhash._DROP]


def _reference_token_hashes(hasher: MinHasher, codes: list[int]) -> list[int]:
    base, mask, hashes = hasher._char_base, (1 << 64) - 1, []
    token: list[int] = []
    for code in [*codes, 0]:
        if code > 0:
            token.append(code)
        elif token:
            value = sum(c * pow(base, i, 1 << 64) for i, c in enumerate(token)) & mask
            hashes.append(int(minhash._mix(np.array([value ^ len(token)], dtype=np.uint64))[0]))
            token = []
    return hashes


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=6))
def test_folding_table_equals_decomposing_the_text(texts: list[str]) -> None:
    codes, starts = minhash._fold_codes(texts)
    expected: list[int] = []
    for i, text in enumerate(texts):
        if i:
            expected.append(0)
        assert starts[i] == len(expected)
        expected += _reference_codes(text)
    assert codes.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_token_hashes_equal_their_definition(text: str) -> None:
    hasher = MinHasher()
    codes, _ = minhash._fold_codes([text])
    hashes, _ = hasher._token_hashes(codes)
    assert hashes.tolist() == _reference_token_hashes(hasher, codes.tolist())


def test_folding_real_text_with_ligatures_and_hangul() -> None:
    texts = [read_body("gutenberg-fr/pg4650-candide/4650-8.txt", "latin-1")[:20000],
             "Le cœur a ses raisons — Æsop, ﬁn, ½, straße", "한국어 텍스트 " * 300]
    for text in texts:
        assert minhash._fold_codes([text])[0].tolist() == _reference_codes(text)
    assert fold_tokens("Le cœur, STRASSE ﬁn") == ["le", "coeur", "strasse", "fin"]
