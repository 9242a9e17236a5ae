"""Prompt ranking: which files (and symbols) of a project matter for a piece of text.

Evidence, combined per file:

1. lexical — FTS5 BM25 over paths, symbol names, signatures and docstrings
   (porter-stemmed, identifiers also indexed as their sub-words);
2. named — identifiers and paths the text spells out (``TokenBucket``,
   ``store.py``, ``index/builder``) matched exactly against symbol names and
   file paths;
3. graph — the seed scores spread two hops along import/reference edges
   (``graph.spread``), so a file that the matching files depend on, or that
   depends on them, rises too;
4. prior — a small share of the query-independent centrality rank.

Tests, generated and vendored files are down-weighted unless the text is
about tests. The work per prompt is bounded by the number of FTS hits and the
spread fan-out, not by the size of the repository.
"""

from __future__ import annotations

import functools
import heapq
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from treerag.index.graph import spread
from treerag.index.store import FLAG_GENERATED, FLAG_TEST, split_identifier

# Names and path parts repeat from prompt to prompt: their sub-words are worth remembering (bounded).
_split = functools.lru_cache(maxsize=4096)(lambda name: tuple(split_identifier(name)))

if TYPE_CHECKING:
    from treerag.index.loaded import LoadedProject

__all__ = ["RankedFile", "fts_query", "Terms", "extract_terms", "rank_files"]

FTS_LIMIT = 150
SEEDS = 30
NAMED_WEIGHT = 1.0  # a file defines an identifier the text spells out
WORD_NAME_WEIGHT = 0.35  # a file defines a symbol named like a plain word of the text
PATH_WEIGHT = 1.5  # the text names the file's path
STEM_WEIGHT = 0.5  # the text spells out the file's name
DIR_WEIGHT = 0.15  # … or the name of one of its two nearest directories
SPREAD_DECAY = 0.35
SPREAD_FANOUT = 30  # edges followed out of one file per hop
SPREAD_BREADTH = 60  # files the second hop spreads from (the strongest the first reached)
SPREAD_WEIGHT = 0.6
PRIOR_WEIGHT = 0.15
VECTOR_WEIGHT = 1.0  # cosine of the prompt and file embeddings, when there are any
BODY_WEIGHT = 0.4  # BM25 over the whole file text (relative to the best hit), for words only a body holds
BODY_LIMIT = 50
COMMON_SHARE = 0.33  # a word in more of the files than this says little about any and costs the most to rank
COMMON_FLOOR = 500  # … but below this many files a word is cheap whatever its share
TEST_PENALTY = 0.45  # tests, unless the text is about tests
TEST_BOOST = 1.0  # tests, when it is
HEADER_PENALTY = 1.0
_MODULE_FILES = frozenset({"index", "mod", "__init__", "init"})
_HEADER_EXTS = frozenset({"h", "hh", "hpp", "hxx"})
_SOURCE_EXTS = frozenset({"c", "cc", "cpp", "cxx", "m", "mm"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:(?:\.|::|#)[A-Za-z_]\w*)+\b")  # a.b, A::b, Item#done
_BACKTICKED = re.compile(r"`([^`\n]{1,80})`")
_PATHLIKE = re.compile(r"[\w.\-]*[/\\][\w.\-/\\]+|[\w\-]+\.[A-Za-z]{1,5}\b")
_DEFINITION_KINDS = frozenset({"class", "function", "interface", "struct", "trait", "enum", "type"})
_TEST_WORDS = frozenset({"test", "tests", "testing", "spec", "specs", "pytest", "unittest", "fixture", "fixtures"})
STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from has have how i if in into is it its
    me my of on or our please should so some that the their them then there these this those to up us
    use used using was we what when where which who why will with would you your file files code function
    functions method methods class classes make makes made add adds change changes fix fixes work works
    need needs want wants get gets set sets let show tell find look see new all any also just like
    about there here than more most other only very thing things way does doesn't don't isn't project
    implement implemented implementation handle handles handled happen happens""".split()
)


@dataclass(slots=True)
class Terms:
    words: list[str]  # lower-case content words (for FTS and symbol matching)
    identifiers: list[str]  # identifiers as written, when they look like code (CamelCase, snake_case, dotted)
    paths: list[str]  # path-like tokens
    about_tests: bool


@dataclass(slots=True)
class RankedFile:
    index: int
    path: str
    score: float
    symbols: list[dict[str, Any]] = field(default_factory=list)


def extract_terms(text: str) -> Terms:
    paths = [p.strip("./\\").replace("\\", "/") for p in _PATHLIKE.findall(text)]
    identifiers: list[str] = []
    words: list[str] = []
    # `quoted` and dotted.names are code by construction, whatever their case.
    dotted = [d for d in _DOTTED.findall(text) if d not in paths]
    quoted = {t for q in _BACKTICKED.findall(text) + dotted for t in _WORD.findall(q)}
    for match in _WORD.finditer(text):
        token = match.group()
        if (token in quoted or "_" in token.strip("_") or re.search(r"[a-z][A-Z]", token)
                or (token.isupper() and len(token) > 2) or _is_proper_name(text, match.start(), token)):
            identifiers.append(token)
        for part in split_identifier(token):
            if len(part) > 1 and (part not in STOPWORDS or token in quoted):
                words.append(part)
    seen: set[str] = set()
    unique = [w for w in words if not (w in seen or seen.add(w))]  # type: ignore[func-returns-value]
    return Terms(words=unique[:40], identifiers=identifiers[:20], paths=paths[:10],
                 about_tests=bool(_TEST_WORDS & set(unique)))


def _is_proper_name(text: str, start: int, token: str) -> bool:
    """A capitalised word inside a sentence ("the Method union") names a type, not prose."""
    if not (token[0].isupper() and token[1:].islower() and len(token) > 2):
        return False
    before = text[:start].rstrip()
    return bool(before) and before[-1] not in ".!?:;\n\"'(`"


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


_SUFFIXES = ("ing", "ers", "er", "ies", "es", "ed", "s", "e")


def _stem(word: str) -> str:
    """A light suffix stripper so that parse/parser/parsing and route/routes/router meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not (suffix == "s" and word.endswith("ss")):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def fts_query(words: list[str]) -> str:
    return " OR ".join(f'"{w}"' for w in words if w.isalnum())


def rank_files(
    project: LoadedProject, text: str, limit: int = 10, similarity: dict[int, float] | None = None
) -> list[RankedFile]:
    """Files that best answer ``text``; ``similarity`` (file index -> cosine of the prompt's embedding
    with the file's, from :func:`treerag.enrich.vectors.similar`) adds a weighted vector score."""
    terms = extract_terms(text)
    if not terms.words and not terms.paths:
        return []
    seeds: dict[int, float] = {}

    # 1. lexical: names, signatures, docstrings; then the whole text of each file, weighted less
    name_words, body_words = _selective(project, terms.words)
    for hits, weight in ((project.store.search(fts_query(name_words), FTS_LIMIT), 1.0),
                         (project.store.search_bodies(fts_query(body_words), BODY_LIMIT), BODY_WEIGHT)):
        if hits:
            top = max(score for _, score in hits) or 1.0
            for file_id, score in hits:
                i = project.index_of_id.get(file_id)
                if i is not None:
                    seeds[i] = seeds.get(i, 0.0) + weight * score / top

    # 2. named identifiers and paths
    _add_named_symbols(project, terms, seeds)
    for path in terms.paths:
        for i in _path_matches(project, path):
            seeds[i] = seeds.get(i, 0.0) + PATH_WEIGHT
    stems = {_stem(w) for w in terms.words if len(w) > 2}
    if stems:
        for i, score in list(seeds.items()):
            seeds[i] = score + _path_name_boost(project.paths[i], stems)
    if similarity:  # 2b. vector similarity (only when an embeddings provider is configured)
        for i, cos in similarity.items():
            if cos > 0.0:
                seeds[i] = seeds.get(i, 0.0) + VECTOR_WEIGHT * cos
    if not seeds:
        return []

    # 3. graph spread from the strongest seeds
    strongest = dict(sorted(seeds.items(), key=lambda kv: -kv[1])[:SEEDS])
    spread_scores = spread(strongest, lambda n: project.neighbours(n, SPREAD_FANOUT), hops=2, decay=SPREAD_DECAY,
                           fanout=SPREAD_FANOUT, breadth=SPREAD_BREADTH)

    # 4. prior and penalties
    prior = PRIOR_WEIGHT / (project.max_rank or 1.0)
    rank, flags, test_factor = project.rank, project.flags, TEST_BOOST if terms.about_tests else TEST_PENALTY
    final: dict[int, float] = {}
    for i, score in spread_scores.items():
        value = seeds.get(i, 0.0) + SPREAD_WEIGHT * (score - strongest.get(i, 0.0)) + prior * rank[i]
        if flags[i] & FLAG_TEST:
            value *= test_factor
        if flags[i] & FLAG_GENERATED:
            value *= 0.3
        final[i] = value
    _prefer_definitions(project, final)
    paths = project.paths
    ordered = heapq.nsmallest(limit, final.items(), key=lambda kv: (-kv[1], paths[kv[0]]))
    if not ordered:
        return []
    best = ordered[0][1] or 1.0
    ranked = [RankedFile(i, project.paths[i], round(score / best, 4)) for i, score in ordered]
    _attach_symbols(project, ranked, terms)
    return ranked


def _selective(project: LoadedProject, words: list[str]) -> tuple[list[str], list[str]]:
    """The words worth a BM25 search of the names index and of the body index.

    BM25 scores every file a word occurs in, so a word in a third of the files ("test" in django's
    tests) costs more than all the others together while its weight is near zero: such words are left
    out, unless every word is that common (then the two rarest stay). A word in fewer than
    ``COMMON_FLOOR`` files always stays: it costs little. Document counts are a cheap count each,
    remembered for the life of the loaded project."""
    counts = project.term_counts
    missing = [w for w in words if w not in counts and w.isalnum()]
    if missing:
        if len(counts) > 4096:
            counts.clear()
        counts.update(project.store.document_counts(missing))
    ceiling = max(COMMON_FLOOR, COMMON_SHARE * project.files)
    words = [w for w in words if w in counts]
    chosen = []
    for column in (0, 1):
        kept = [w for w in words if counts[w][column] <= ceiling]
        chosen.append(kept or sorted(words, key=lambda w: counts[w][column])[:2])
    return chosen[0], chosen[1]


def _add_named_symbols(project: LoadedProject, terms: Terms, seeds: dict[int, float]) -> None:
    """Files defining a symbol the text names: full weight for an identifier, less for a plain word.

    A name defined in many files says less about each of them, so its weight is shared out.
    """
    exact = {n.lower() for n in terms.identifiers}
    words = {w for w in terms.words if len(w) > 3}
    words |= {_singular(w) for w in words}
    names = sorted(exact | words)
    if not names:
        return
    marks = ",".join("?" * len(names))
    definers: dict[str, set[int]] = {}
    for file_id, name in project.store.db.execute(
        f"SELECT DISTINCT file_id, name FROM symbols WHERE name COLLATE NOCASE IN ({marks}) LIMIT 400", names
    ):
        i = project.index_of_id.get(file_id)
        if i is not None:
            definers.setdefault(name.lower(), set()).add(i)
    for name, files in definers.items():
        weight = (NAMED_WEIGHT if name in exact else WORD_NAME_WEIGHT) / len(files) ** 0.5
        for i in files:
            seeds[i] = seeds.get(i, 0.0) + weight


def _path_name_boost(path: str, stems: set[str]) -> float:
    """How much of the file's own name (and its directories' names) the text spells out."""
    words, whole, dirs = _name_stems(path)
    if whole in stems:
        boost = STEM_WEIGHT
    else:
        boost = STEM_WEIGHT * sum(1 for w in words if w in stems) / len(words)
    return boost + DIR_WEIGHT * sum(1 for d in dirs if d in stems)


@functools.lru_cache(maxsize=2048)  # the same files are seeds of prompt after prompt
def _name_stems(path: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The stems of a file's name words, of its whole name and of its two nearest directories.

    A module file (``index.js``, ``mod.rs``, ``__init__.py``) is named by its directory.
    """
    parts = path.split("/")
    stem = parts[-1].split(".", 1)[0]
    dirs = parts[:-1]
    if stem.lower() in _MODULE_FILES and dirs:
        stem = dirs.pop()
    words = [w for w in _split(stem) if len(w) > 1] or [stem.lower()]
    return tuple(_stem(w) for w in words), _stem(stem.lower()), tuple(_stem(d.lower()) for d in dirs[-2:])


def _prefer_definitions(project: LoadedProject, final: dict[int, float]) -> None:
    """A C/C++ header competing with its own implementation file yields to it: behaviour lives there."""
    c_family = project.c_family_languages
    if not c_family:
        return
    sources = set()
    headers = []
    language = project.language
    for i in final:
        if language[i] not in c_family:
            continue
        name = project.paths[i].rsplit("/", 1)[-1]
        stem, _, ext = name.rpartition(".")
        if ext in _SOURCE_EXTS:
            sources.add(stem)
        elif ext in _HEADER_EXTS:
            headers.append((i, stem))
    for i, stem in headers:
        if stem in sources:
            final[i] *= HEADER_PENALTY


def _path_matches(project: LoadedProject, path: str) -> list[int]:
    exact = project.index_of_path.get(path)
    if exact is not None:
        return [exact]
    suffix = "/" + path
    out = [i for i, p in enumerate(project.paths) if p.endswith(suffix) or p.rsplit(".", 1)[0].endswith(path)]
    return out[:5]


def _attach_symbols(project: LoadedProject, ranked: list[RankedFile], terms: Terms, per_file: int = 6) -> None:
    """Each file's ``per_file`` symbols that the text names best, then top-level definitions, in line order.

    A symbol scores one for each wanted word of three letters or more its name contains, and two more when
    its name is a wanted word (``Store.best_symbols``)."""
    ids = [project.ids[r.index] for r in ranked]
    wanted = sorted(set(terms.words) | {i.lower() for i in terms.identifiers})
    by_file = project.store.best_symbols(ids, [w for w in wanted if len(w) >= 3][:40], wanted,
                                         sorted(_DEFINITION_KINDS), per_file)
    for r, fid in zip(ranked, ids, strict=True):
        r.symbols = by_file[fid]
