"""The harness's metric code, against values worked out by hand, and the strict judge
parser."""

from __future__ import annotations

import math

import pytest

from agentmem.eval.judge import is_comparable_judge, judge_prompt, parse_verdict
from agentmem.eval.metrics import (
    aggregate_retrieval,
    dcg,
    ndcg_any,
    qa_summary,
    rank_by_first_appearance,
    recall_all,
    recall_any,
)


def test_recall_any_versus_all() -> None:
    ranked = ["a", "g1", "b", "g2", "c"]
    gold = ["g1", "g2"]
    assert recall_any(ranked, gold, 1) == 0.0
    assert recall_any(ranked, gold, 2) == 1.0
    assert recall_all(ranked, gold, 2) == 0.0   # g2 is only at rank 4
    assert recall_all(ranked, gold, 3) == 0.0
    assert recall_all(ranked, gold, 4) == 1.0
    assert recall_any(["x", "y"], ["z"], 50) == 0.0


def test_dcg_counts_ranks_one_and_two_undiscounted() -> None:
    # LongMemEval's DCG: rel[0] + sum_{i>=1} rel[i] / log2(i + 1)
    assert dcg([1, 1], 2) == 2.0                    # the textbook DCG gives 1 + 1/log2(3)
    assert dcg([0, 0, 1], 3) == pytest.approx(1 / math.log2(3))
    assert dcg([1, 0, 0, 1], 4) == pytest.approx(1 + 1 / math.log2(4))
    assert dcg([1, 1, 1], 2) == 2.0                 # truncated at k
    assert dcg([], 5) == 0.0


def test_ndcg_by_hand() -> None:
    ranked = ["a", "g1", "b", "g2"]
    gold = ["g1", "g2"]
    # k=3: DCG = 0 + 1/log2(2) + 0 = 1; ideal = 1 + 1/log2(2) = 2
    assert ndcg_any(ranked, gold, 3) == pytest.approx(0.5)
    # k=4: DCG = 1 + 1/log2(4) = 1.5; ideal = 2
    assert ndcg_any(ranked, gold, 4) == pytest.approx(0.75)
    # a gold item at rank 2 scores as if at rank 1
    assert ndcg_any(["x", "g"], ["g"], 5) == pytest.approx(1.0)
    assert ndcg_any(["x", "y", "g"], ["g"], 5) == pytest.approx(1 / math.log2(3))
    # ideal DCG is capped at k: three gold items, k=1
    assert ndcg_any(["g1", "x"], ["g1", "g2", "g3"], 1) == 1.0


def test_first_appearance_gives_no_free_pass_to_coarse_units() -> None:
    # three round units: two in s1, one in s2; the session ranking holds each once
    units_sessions = [["s1"], ["s1"], ["s2"]]
    assert rank_by_first_appearance(units_sessions) == ["s1", "s2"]
    # a session unit covering many turns: its turns, in order, each counted once
    units_turns = [["s2_1", "s2_2", "s2_3"], ["s1_1", "s1_2"], ["s2_2"]]
    ranked = rank_by_first_appearance(units_turns)
    assert ranked == ["s2_1", "s2_2", "s2_3", "s1_1", "s1_2"]
    # k counts turns, not units: the gold s1_1 is at rank 4
    assert recall_any(ranked, ["s1_1"], 3) == 0.0
    assert recall_any(ranked, ["s1_1"], 4) == 1.0


def _row(qid: str, qtype: str, gold_s: list[str], ranked_s: list[str], gold_t: list[str],
         ranked_t: list[str], abstention: bool = False) -> dict[str, object]:
    return {"question_id": qid, "question_type": qtype, "abstention": abstention,
            "gold_session_ids": gold_s, "ranked_session_ids": ranked_s,
            "gold_turn_ids": gold_t, "ranked_turn_ids": ranked_t}


def test_aggregate_excludes_abstention_and_missing_gold() -> None:
    rows = [
        _row("q1", "single-session-user", ["s1"], ["s1", "s2"], ["s1_1"], ["s1_1"]),
        _row("q2", "multi-session", ["s1", "s2"], ["s3", "s1", "s2"], [], ["s3_1"]),
        # an abstention question by its id, and one by its flag: never counted
        _row("q3_abs", "temporal-reasoning", ["s9"], ["s1"], ["s9_1"], ["s1_1"]),
        _row("q4", "adversarial", ["s1"], ["s2"], ["s1_2"], ["s2_1"], abstention=True),
    ]
    agg = aggregate_retrieval(rows)
    assert agg["n"] == {"session": 2, "turn": 1}
    session = agg["session"]
    assert isinstance(session, dict)
    # q1: hit at rank 1; q2: first gold at rank 2, second at rank 3
    assert session["recall_any@1"] == pytest.approx(0.5)
    assert session["recall_all@1"] == pytest.approx(0.5)
    assert session["recall_all@3"] == pytest.approx(1.0)
    # q2 ndcg@3: DCG = 0 + 1 + 1/log2(3); ideal = 1 + 1
    q2 = (1 + 1 / math.log2(3)) / 2
    assert session["ndcg_any@3"] == pytest.approx((1.0 + q2) / 2)
    turn = agg["turn"]
    assert isinstance(turn, dict)
    assert turn["recall_all@1"] == 1.0  # only q1 has gold turns


def test_qa_summary_task_average_and_abstention() -> None:
    rows = [
        {"question_id": "a1", "question_type": "t1", "verdict": "yes"},
        {"question_id": "a2", "question_type": "t1", "verdict": "no"},
        {"question_id": "a3", "question_type": "t1", "verdict": None},  # unparsed: wrong
        {"question_id": "a4_abs", "question_type": "t2", "verdict": "yes"},
    ]
    qa = qa_summary(rows)
    assert qa is not None
    assert qa["overall"] == pytest.approx(2 / 4)
    assert qa["by_type"] == {"t1": pytest.approx(1 / 3), "t2": 1.0}
    assert qa["task_averaged"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert qa["abstention"] == 1.0
    assert qa["unparsed_verdicts"] == 1
    assert qa_summary([{"question_id": "x", "question_type": "t"}]) is None


@pytest.mark.parametrize(("reply", "verdict"), [
    ("yes", "yes"), ("Yes.", "yes"), ("YES", "yes"), ("**Yes**", "yes"),
    ("yes, the response gives the updated answer", "yes"), ("No", "no"),
    ("no.", "no"), ("\n  No, it only gives part of it", "no"),
    ("INCORRECT", None), ("CORRECT", None), ("Yesterday", None), ("nope", None),
    ("The answer is yes", None), ("I think yes", None), ("", None), ("...", None),
    ("Noted: yes", None), ("Yes/No", None), ("yes-no", None), ("no-brainer: yes", None),
    ("No\n\nExplanation: it misses the date", "no"), ("(yes)", "yes"),
])
def test_parse_verdict_is_strict(reply: str, verdict: str | None) -> None:
    assert parse_verdict(reply) == verdict


def test_judge_prompts_by_type() -> None:
    base = judge_prompt("multi-session", "Q?", "A", "R")
    assert base.endswith("Answer yes or no only.")
    assert "off-by-one" not in base
    assert "off-by-one" in judge_prompt("temporal-reasoning", "Q?", "A", "R")
    assert "off-by-one" in judge_prompt("temporal", "Q?", "A", "R")  # LoCoMo's name
    assert "updated answer" in judge_prompt("knowledge-update", "Q?", "A", "R")
    assert "Rubric: A" in judge_prompt("single-session-preference", "Q?", "A", "R")
    abst = judge_prompt("temporal-reasoning", "Q?", "A", "R", abstention=True)
    assert "unanswerable" in abst and "Explanation: A" in abst
    for p in (base, abst):
        assert "Model Response: R" in p


def test_comparable_judge_names() -> None:
    assert is_comparable_judge("openai:https://api.openai.com/v1@gpt-4o-2024-08-06")
    assert not is_comparable_judge("openai:https://api.openai.com/v1@gpt-4o-mini")
    assert not is_comparable_judge("vllm:/models/SmolLM2-135M-Instruct")
    assert is_comparable_judge("openai:https://x1.openai.azure.com/v1@gpt-4o")
    # a local model folder or server alias named like GPT-4o is still a local judge
    assert not is_comparable_judge("vllm:/models/gpt-4o-clone")
    assert not is_comparable_judge("openai:http://127.0.0.1:8000/v1@gpt-4o")
