"""SORT instance construction (Book-SORT protocol): bin edges and membership,
sentence-boundary starts, counterbalancing, determinism, and the reserved split."""

from __future__ import annotations

import random

import pytest

from agentmem.errors import ConfigError
from agentmem.eval.sort import (
    bin_edges,
    bin_of,
    build_instances,
    counterbalance,
    sentence_starts,
)


def _text(words: int, seed: int = 0) -> str:
    """Sentences of 4-18 numbered words, each ending in '.', '!' or '?'."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < words:
        n = rng.randint(4, 18)
        sentence = [f"w{len(out) + i}" for i in range(n)]
        sentence[-1] += rng.choice([".", "!", "?", '."'])
        out.extend(sentence)
    return " ".join(out[:words])


def test_bin_edges_follow_the_protocol() -> None:
    assert bin_edges(250, 20) == (20, 62, 83, 125, 200)
    assert bin_edges(2500, 50) == (50, 625, 833, 1250, 2000)
    assert bin_edges(10000, 50) == (50, 1000, 2500, 5000, 8000)
    assert bin_edges(20000, 20) == (20, 1000, 5000, 10000, 16000)
    edges = bin_edges(250, 20)
    assert [bin_of(d, edges) for d in (20, 21, 62, 63, 83, 84, 200, 201)] == [
        None, 0, 0, 1, 1, 2, 3, None]


def test_sentence_starts() -> None:
    words = 'He said "Go now." Then he left! Did she? (Yes.) Fine'.split()
    assert sentence_starts(words).tolist() == [0, 4, 7, 9, 10]
    assert sentence_starts([]).tolist() == []


def test_instances_start_at_sentences_fit_their_bins_and_match_the_text() -> None:
    texts = {"book": _text(30000)}
    insts = build_instances(texts, excerpts=2, seed=3)
    words = texts["book"].split()
    assert {i.excerpt_length for i in insts} == {250, 1000, 2500, 10000, 20000}
    assert {i.segment_length for i in insts} == {20, 50}
    for inst in insts:
        excerpt = words[inst.excerpt_start : inst.excerpt_start + inst.excerpt_length]
        starts = set(sentence_starts(excerpt).tolist())
        assert inst.first_start in starts and inst.second_start in starts
        assert inst.second_start + inst.segment_length <= inst.excerpt_length
        assert inst.distance == inst.second_start - inst.first_start > inst.segment_length
        assert bin_of(inst.distance, bin_edges(inst.excerpt_length,
                                               inst.segment_length)) == inst.bin
        earlier = " ".join(excerpt[inst.first_start : inst.first_start
                                   + inst.segment_length])
        shown_first = inst.segment_a if inst.a_first else inst.segment_b
        assert shown_first == earlier and inst.answer == ("A" if inst.a_first else "B")
    # one pair per bin per excerpt per segment length, when the excerpt allows it
    per = {}
    for inst in insts:
        key = (inst.excerpt_length, inst.id.split("-")[3], inst.segment_length)
        per.setdefault(key, set()).add(inst.bin)
    assert all(len(bins) == 4 for bins in per.values())


def test_counterbalancing_is_exactly_half() -> None:
    import numpy as np

    insts = build_instances({"a": _text(12000), "b": _text(12000, seed=1)}, excerpts=3,
                            excerpt_lengths=(250, 1000, 2500), seed=0)
    assert len(insts) % 2 == 0
    assert sum(i.a_first for i in insts) == len(insts) // 2
    cells: dict[tuple[int, int, int], list[bool]] = {}
    for i in insts:
        cells.setdefault((i.excerpt_length, i.segment_length, i.bin), []).append(i.a_first)
    assert all(sum(f) == len(f) // 2 for f in cells.values())  # in every cell too
    flags = counterbalance(7, np.random.default_rng(0))
    assert sum(flags) == 3 and len(flags) == 7


def test_the_same_seed_gives_the_same_instances_and_splits_never_overlap() -> None:
    texts = {"book": _text(20000)}
    one = build_instances(texts, excerpt_lengths=(250, 1000), seed=7)
    assert one == build_instances(texts, excerpt_lengths=(250, 1000), seed=7)
    assert one != build_instances(texts, excerpt_lengths=(250, 1000), seed=8)
    prompt = build_instances(texts, excerpt_lengths=(250, 1000), seed=7, split="prompt")
    cut = int(20000 * 0.1)
    assert prompt and all(i.excerpt_start + i.excerpt_length <= cut for i in prompt)
    assert all(i.excerpt_start >= cut for i in one)
    # a text too short for an excerpt length gives none of that length
    short = build_instances({"s": _text(3000)}, excerpt_lengths=(250, 10000), seed=0)
    assert {i.excerpt_length for i in short} == {250}


def test_bad_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="split"):
        build_instances({"a": "x"}, split="test")
    with pytest.raises(ConfigError, match="excerpt_lengths"):
        build_instances({"a": "x"}, excerpt_lengths=(0,))
    with pytest.raises(ConfigError, match="reserve"):
        build_instances({"a": "x"}, reserve=1.5)


def test_the_choice_parser_reads_a_or_b() -> None:
    from agentmem.eval.sort import parse_choice

    cases = {" A": "A", "B.": "B", "**A**": "A", "(b) because": "B", "Segment A": "A",
             " b\nThe first one.": "B", "I think segment B came first.": "B",
             "A and then B": "A", "Both segment A and segment B": None, "": None,
             "Actually unclear": None, "Banana": None, "ambiguous": None}
    for text, want in cases.items():
        assert parse_choice(text) == want, text


def test_segments_are_located_in_memory_across_unit_boundaries(embedder) -> None:  # type: ignore[no-untyped-def]
    from agentmem import Memory
    from agentmem.eval.sort import answer_from_memory, ingest_stream, locate

    words = _text(1200, seed=5).split()
    with Memory(embedder=embedder, context_turns=0) as mem:
        stream = ingest_stream(mem, "reader", words, chunk=50)
        assert len(stream) == 24
        # starts inside a unit, and segments that straddle a boundary (45 + 20 > 50)
        for start in (0, 7, 45, 95, 530, 1180):
            segment = " ".join(words[start : start + 20])
            assert locate(mem, "reader", segment, stream) == start
        assert locate(mem, "reader", "words that were never said here", stream) is None
        insts = build_instances({"t": " ".join(words)}, excerpts=2,
                                excerpt_lengths=(1000,), segment_lengths=(20,), seed=1,
                                reserve=0.1)
    assert insts
    for inst in insts:  # one memory per excerpt, as the harness will do
        excerpt = words[inst.excerpt_start : inst.excerpt_start + inst.excerpt_length]
        with Memory(embedder=embedder, context_turns=0) as mem:
            stream = ingest_stream(mem, "reader", excerpt, chunk=50)
            assert answer_from_memory(mem, "reader", inst, stream) == inst.answer


class _AlwaysA:
    """A scripted stand-in (not a model): answers "A" to everything, records prompts."""

    name = "scripted-always-a"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def complete(self, requests):  # type: ignore[no-untyped-def]
        from agentmem.llm import Completion

        self.prompts += [r.prompt for r in requests]
        return [Completion(text=" A") for _ in requests]


def test_the_sort_command_runs_scores_and_resumes(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    import json

    from agentmem.eval.cli import main
    from agentmem.eval.sort_runner import SortConfig, run_sort

    book = tmp_path / "book.txt"
    book.write_text(_text(4000, seed=2), encoding="utf-8")
    out = tmp_path / "run"
    args = ["sort", "--text", str(book), "--excerpt-lengths", "250", "1000",
            "--excerpts", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    rows = (out / "predictions.jsonl").read_text().splitlines()
    assert metrics["overall"]["n"] == len(rows) == 32
    assert metrics["overall"]["accuracy"] >= 0.95  # the memory condition
    assert set(metrics["by_bin"]) == {"0", "1", "2", "3"}
    assert (out / "accuracy.png").stat().st_size > 0 and "accuracy.png" in (
        out / "report.md").read_text()
    assert main(args) == 2  # outputs exist: --resume or --overwrite
    assert main([*args, "--resume"]) == 0
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 32
    assert main(["sort", "--text", str(book), "--condition", "rag", "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2  # rag needs --llm
    # in context, an answer that is always "A" scores exactly chance: counterbalanced
    llm = _AlwaysA()
    m = run_sort(tmp_path / "ic", config=SortConfig(condition="in-context", excerpts=2,
                 excerpt_lengths=(250, 1000)), texts=[book], llm=llm, progress=False)
    assert m["overall"]["accuracy"] == 0.5 and m["unanswered"] == 0
    assert llm.prompts[0].startswith("Read and comprehend this extract")
    assert llm.prompts[0].endswith("Which fragment appeared first in the book, A or B?\n"
                                   "Answer: Segment")
    llm = _AlwaysA()
    m = run_sort(tmp_path / "rag", config=SortConfig(condition="rag", excerpts=1,
                 excerpt_lengths=(1000,), k=2), texts=[book], llm=llm, progress=False,
                 embedder=embedder)
    assert m["overall"]["n"] == 8 and llm.prompts[0].startswith("Passages retrieved")


def test_conversation_histories_are_sources(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from test_eval_harness import longmemeval_items, write_json

    from agentmem.eval.sort_runner import conversation_texts

    path = write_json(tmp_path / "longmemeval_s.json", longmemeval_items())
    texts = conversation_texts([path])
    assert len(texts) == 3
    dog = next(t for t in texts.values() if "Rex" in t)
    # sessions in date order: the run on 06-01 before the birthday on 06-05
    assert dog.index("Monday runs") < dog.index("turned five")
    assert dog.splitlines()[0].startswith("user: ")


def test_tiny_lengths_and_a_resume_with_another_setup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from agentmem.eval.sort_runner import SortConfig, run_sort

    # edges out of order (L_E//4 < L_S): empty bins, no crash
    assert all(i.bin == 3 and i.distance > 50 for i in build_instances(
        {"t": _text(3000)}, excerpt_lengths=(100,), segment_lengths=(50,), seed=0))
    book = tmp_path / "book.txt"
    book.write_text(_text(3000, seed=4), encoding="utf-8")
    config = SortConfig(excerpts=1, excerpt_lengths=(250,), segment_lengths=(20,))
    run_sort(tmp_path / "r", config=config, texts=[book], progress=False)
    with pytest.raises(ConfigError, match="another configuration"):
        run_sort(tmp_path / "r", config=SortConfig(excerpts=1, excerpt_lengths=(250,),
                                                   segment_lengths=(20,), seed=5),
                 texts=[book], progress=False, resume=True)
    with (tmp_path / "r" / "predictions.jsonl").open("a") as fh:
        fh.write('{"id": "torn')  # an interrupted write: dropped on resume
    m = run_sort(tmp_path / "r", config=config, texts=[book], progress=False, resume=True)
    assert m["overall"]["n"] == 4
