"""The evaluation harness end to end: loaders on fixtures written in LongMemEval's and
LoCoMo's exact schemas, schema errors, outputs, resume, QA mode (with a scripted LLM
stand-in), and the LoCoMo reference points on the real dev files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentmem import SentenceTransformerEmbedder
from agentmem.errors import ConfigError, DataError
from agentmem.eval import RunConfig, evaluate, load_locomo, load_longmemeval
from agentmem.eval.cli import main
from agentmem.eval.data import normalise_evidence
from agentmem.llm import BaseLLM, Completion, LLMRequest

LOCOMO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"


# -- fixtures in the datasets' own schemas ------------------------------------------------


def _turn(role: str, content: str, has_answer: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"role": role, "content": content}
    if has_answer:
        t["has_answer"] = True
    return t


def longmemeval_items() -> list[dict[str, Any]]:
    noise_a = [_turn("user", "Can you suggest a quick pasta recipe for dinner?"),
               _turn("assistant", "Try spaghetti aglio e olio: garlic, olive oil, chili.")]
    noise_b = [_turn("user", "Will it rain in Oslo this weekend?"),
               _turn("assistant", "I cannot check live weather, but Oslo is often wet.")]
    kayak = [_turn("user", "I bought a red kayak and named it Pebble.", True),
             _turn("assistant", "Pebble is a great name for a kayak!")]
    dog_1 = [_turn("user", "My dog Rex joins me on my Monday runs.", True),
             _turn("assistant", "Running with a dog is good for both of you.")]
    dog_2 = [_turn("user", "Rex turned five years old yesterday.", True),
             _turn("assistant", "Happy birthday to Rex!")]
    return json.loads(json.dumps([
        {
            "question_id": "q_kayak", "question_type": "single-session-user",
            "question": "What name did I give my kayak?", "answer": "Pebble",
            "question_date": "2023/05/30 (Tue) 23:40",
            "haystack_session_ids": ["sess_a", "answer_k1", "sess_b"],
            "haystack_dates": ["2023/05/20 (Sat) 10:00", "2023/05/22 (Mon) 09:15",
                               "2023/05/25 (Thu) 18:00"],
            "haystack_sessions": [noise_a, kayak, noise_b],
            "answer_session_ids": ["answer_k1"],
        },
        {
            "question_id": "q_dog", "question_type": "multi-session",
            "question": "How old is the dog that runs with me?", "answer": "five",
            "question_date": "2023/06/10 (Sat) 12:00",
            "haystack_session_ids": ["answer_d2", "sess_a", "answer_d1"],
            # dates out of list order: the reader must sort by date
            "haystack_dates": ["2023/06/05 (Mon) 08:00", "2023/05/20 (Sat) 10:00",
                               "2023/06/01 (Thu) 07:30"],
            "haystack_sessions": [dog_2, noise_a, dog_1],
            "answer_session_ids": ["answer_d2", "answer_d1"],
        },
        {
            "question_id": "q_car_abs", "question_type": "knowledge-update",
            "question": "What colour is my new car?", "answer": "You never mentioned a car.",
            "question_date": "2023/06/10 (Sat) 12:00",
            "haystack_session_ids": ["sess_a", "sess_b"],
            "haystack_dates": ["2023/05/20 (Sat) 10:00", "2023/05/25 (Thu) 18:00"],
            "haystack_sessions": [noise_a, noise_b],
            "answer_session_ids": [],
        },
    ]))


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


SENTINEL = "SENTINEL-ANNOTATION-NEVER-READ"


def locomo_conversation() -> dict[str, Any]:
    return {
        "speaker_a": "Ana", "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ana", "dia_id": "D1:1", "text": "Hi Ben! I started pottery classes."},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "Nice! I adopted a parrot.",
             "img_url": ["https://example.org/p.jpg"], "query": "parrot",
             "blip_caption": "a photo of a green parrot on a perch"},
        ],
        "session_2_date_time": "10:00 am on 12 May, 2023",
        "session_2": [],  # dated but empty: skipped
        "session_3_date_time": "7:30 pm on 20 June, 2023",
        "session_3": [
            {"speaker": "Ben", "dia_id": "D3:1", "text": "My parrot Kiwi learned to whistle."},
            {"speaker": "Ana", "dia_id": "D3:2", "text": "I sold my first vase at the fair!"},
        ],
        "session_4_date_time": "9:00 am on 1 July, 2023",  # a date with no session
        "session_1_observation": {"Ana": [[SENTINEL, "D1:1"]]},
        "session_1_summary": SENTINEL,
        "events_session_1": {"Ana": [SENTINEL]},
        "qa": [
            {"question": "What pet did Ben adopt and what can it do?",
             "answer": "a parrot that whistles", "evidence": ["D1:2; D3:1"], "category": 1},
            {"question": "What did Ana sell at the fair?", "answer": "a vase",
             "evidence": ["D:3:2"], "category": 4},
            {"question": "When did Ben adopt the parrot?", "answer": 2023,
             "evidence": ["D01:02"], "category": 2},
            {"question": "What is Ana's favourite film?", "answer": "unknown",
             "evidence": ["D9:9"], "category": 3},  # points at no turn: no gold
            {"question": "What did Ana's parrot learn?", "evidence": ["D3:1"], "category": 5,
             "adversarial_answer": "to whistle"},
        ],
    }


class ScriptedStandInLLM:
    """A scripted stand-in for an LLM (not a model): replies are looked up by
    operation and by a key found in the prompt. Used to test control flow and parsing
    only; the real vLLM path is tested by the LLM layer."""

    def __init__(self, name: str, replies: dict[str, list[str]], default: str) -> None:
        self.name = name
        self.replies = {k: list(v) for k, v in replies.items()}
        self.default = default
        self.requests: list[LLMRequest] = []

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        out = []
        for r in requests:
            self.requests.append(r)
            prompt = r.prompt if r.prompt is not None else "\n".join(
                m["content"] for m in r.as_messages())
            text = self.default
            for key, queue in self.replies.items():
                if key in prompt and queue:
                    text = queue.pop(0)
                    break
            out.append(Completion(text=text, prompt_tokens=len(prompt.split()),
                                  completion_tokens=len(text.split())))
        return out


# -- loaders -------------------------------------------------------------------------------


def test_longmemeval_loader(tmp_path: Path) -> None:
    ds = load_longmemeval(write_json(tmp_path / "longmemeval_s.json", longmemeval_items()))
    assert ds.release == "original"
    q = {x.id: x for x in ds.questions}
    assert q["q_kayak"].gold_session_ids == ("answer_k1",)
    assert q["q_kayak"].gold_turn_ids == ("answer_k1_1",)
    assert q["q_dog"].gold_turn_ids == ("answer_d2_1", "answer_d1_1")
    assert q["q_car_abs"].abstention and not q["q_kayak"].abstention
    hay = ds.haystack("q_dog")
    assert [s.id for s in hay.sessions] == ["answer_d2", "sess_a", "answer_d1"]
    assert hay.sessions[0].turns[1].id == "answer_d2_2"
    cleaned = load_longmemeval(write_json(tmp_path / "longmemeval_s_cleaned.json",
                                          longmemeval_items()))
    assert cleaned.release == "cleaned"


def test_locomo_loader_normalises_evidence_and_never_reads_annotations(tmp_path: Path) -> None:
    ds = load_locomo(write_json(tmp_path / "conv-7.json", locomo_conversation()))
    hay = ds.haystack("conv-7")
    assert [s.id for s in hay.sessions] == ["session_1", "session_3"]
    ben = hay.sessions[0].turns[1]
    assert ben.role == "assistant" and ben.name == "Ben"
    assert "green parrot on a perch" in ben.content  # the photo is part of its turn
    texts = [t.content for s in hay.sessions for t in s.turns]
    assert not any(SENTINEL in t for t in texts)
    q = {x.id: x for x in ds.questions}
    assert q["conv-7_q0"].gold_turn_ids == ("D1:2", "D3:1")
    assert q["conv-7_q0"].gold_session_ids == ("session_1", "session_3")
    assert q["conv-7_q1"].gold_turn_ids == ("D3:2",)
    assert q["conv-7_q2"].gold_turn_ids == ("D1:2",) and q["conv-7_q2"].answer == "2023"
    assert q["conv-7_q3"].gold_turn_ids == () and q["conv-7_q3"].gold_session_ids == ()
    assert q["conv-7_q4"].abstention and q["conv-7_q4"].type == "adversarial"
    assert q["conv-7_q1"].question_date == "7:30 pm on 20 June, 2023"
    # the official list layout loads the same
    sample = {"sample_id": "conv-7", "conversation": {
        k: v for k, v in locomo_conversation().items() if k != "qa"},
        "qa": locomo_conversation()["qa"]}
    listed = load_locomo(write_json(tmp_path / "locomo10.json", [sample]))
    assert [x.gold_turn_ids for x in listed.questions] == [x.gold_turn_ids
                                                           for x in ds.questions]


def test_normalise_evidence() -> None:
    assert normalise_evidence("D8:6; D9:17") == ["D8:6", "D9:17"]
    assert normalise_evidence("D9:1 D4:4 D4:6") == ["D9:1", "D4:4", "D4:6"]
    assert normalise_evidence("D:11:26") == ["D11:26"]
    assert normalise_evidence("D30:05") == ["D30:5"]
    assert normalise_evidence("D") == []


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d[1].pop("question_type"), "[1].question_type"),
    (lambda d: d[0].update(question_type="single-hop"), "[0].question_type"),
    (lambda d: d[0]["haystack_sessions"][1][0].update(role="human"),
     "[0].haystack_sessions[1][0].role"),
    (lambda d: d[2]["haystack_dates"].pop(), "[2].haystack_sessions"),
    (lambda d: d[0]["haystack_dates"].__setitem__(0, "someday"), "[0].haystack_dates[0]"),
    (lambda d: d[1]["haystack_sessions"][0][0].update(content=7),
     "[1].haystack_sessions[0][0].content"),
    (lambda d: d[0].update(question_id="q_dog"), "[1].question_id"),
])
def test_longmemeval_schema_errors_name_file_and_field(tmp_path: Path, mutate: Any,
                                                       field: str) -> None:
    items = longmemeval_items()
    mutate(items)
    path = write_json(tmp_path / "bad.json", items)
    with pytest.raises(DataError) as info:
        load_longmemeval(path)
    assert info.value.field == field
    assert str(path) in str(info.value) and field in str(info.value)


def test_locomo_schema_errors(tmp_path: Path) -> None:
    conv = locomo_conversation()
    conv["qa"][2]["category"] = 9
    with pytest.raises(DataError, match=r"qa\[2\]\.category"):
        load_locomo(write_json(tmp_path / "c.json", conv))
    conv = locomo_conversation()
    del conv["session_3"][1]["dia_id"]
    with pytest.raises(DataError, match=r"session_3\[1\]\.dia_id: is missing"):
        load_locomo(write_json(tmp_path / "c.json", conv))
    with pytest.raises(DataError, match="no such file"):
        load_locomo(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text('{"speaker_a": ', encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        load_locomo(tmp_path / "broken.json")


def test_cli_reports_bad_data_before_any_work(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    items = longmemeval_items()
    del items[2]["haystack_sessions"][0][1]["content"]
    path = write_json(tmp_path / "bad.json", items)
    out = tmp_path / "out"
    code = main(["longmemeval", "--data", str(path), "--out", str(out), "--retrieval-only"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: [2].haystack_sessions[0][1].content: is missing" in err
    assert not out.exists()  # validated before anything was created
    code = main(["longmemeval", "--data", str(path), "--out", str(out)])
    assert code == 2 and "--llm" in capsys.readouterr().err
    # the data is checked before an LLM is loaded (a vLLM start takes minutes)
    code = main(["longmemeval", "--data", str(path), "--out", str(out), "--llm",
                 "vllm:/no/such/model"])
    err = capsys.readouterr().err
    assert code == 2 and "haystack_sessions[0][1].content" in err
    assert "not a model folder" not in err
    code = main(["longmemeval", "--data", str(path), "--out", str(out), "--retrieval-only",
                 "--keys", "facts"])
    assert code == 2 and "--keys needs --llm" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="parts"):
        RunConfig("longmemeval", keys="facts,gist")


def test_cli_help_explains_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["locomo", "--help"])
    text = capsys.readouterr().out
    for option in ("--data", "--out", "--limit", "--types", "--retrieval-only",
                   "--granularity", "--k", "--llm", "--judge", "--resume", "--cache"):
        assert option in text


# -- runs ----------------------------------------------------------------------------------


def test_retrieval_run_outputs_and_resume(tmp_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    data = write_json(tmp_path / "longmemeval_s.json", longmemeval_items())
    out = tmp_path / "run"
    first = evaluate("longmemeval", [data], out, limit=1, embedder=embedder, progress=False)
    assert first.metrics["n"] == {"questions": 1, "session": 1, "turn": 1}
    with pytest.raises(ConfigError, match="--resume"):
        evaluate("longmemeval", [data], out, embedder=embedder, progress=False)
    # an interrupted write leaves a torn last line: resume drops it and goes on
    with (out / "predictions.jsonl").open("a") as f:
        f.write('{"question_id": "q_dog", "question_ty')
    result = evaluate("longmemeval", [data], out, resume=True, embedder=embedder,
                      progress=False)
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["q_kayak", "q_dog", "q_car_abs"]
    assert result.manifest["counts"]["resumed"] == 1
    kayak, dog, car = rows
    assert kayak["question"] == "What name did I give my kayak?"
    assert kayak["ranked_session_ids"][0] == "answer_k1"
    assert kayak["ranked_turn_ids"][0] == "answer_k1_1"
    assert sorted(kayak["ranked_session_ids"]) == ["answer_k1", "sess_a", "sess_b"]
    # round units: every turn of the haystack appears once in the turn ranking
    assert sorted(kayak["ranked_turn_ids"]) == sorted(
        f"{s}_{i}" for s in ("sess_a", "answer_k1", "sess_b") for i in (1, 2))
    assert set(dog["gold_session_ids"]) == {"answer_d1", "answer_d2"}
    assert car["gold_session_ids"] == [] and car["abstention"] is True
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == {"questions": 3, "session": 2, "turn": 2}
    assert metrics["session"]["recall_any@1"] == 1.0  # the kayak and the dog's sessions
    assert set(metrics["by_type"]) == {"single-session-user", "multi-session",
                                       "knowledge-update"}
    assert metrics["qa"] is None
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["data"]["release"] == "original"
    assert len(manifest["data"]["files"][0]["sha256"]) == 64
    assert manifest["embedder"] == embedder.name
    report = (out / "report.md").read_text()
    assert "## Session-level retrieval" in report and "recall_all" in report
    assert (out / "recall_at_k.png").stat().st_size > 1000
    # the first invocation embedded the haystack; the resumed one found it cached
    assert manifest["embedding"]["cached_total"] > 0
    assert len(manifest["invocations"]) == 2
    assert manifest["invocations"][0]["embedding"]["embedded_this_run"] > 0
    # the embedding cache under --out holds every text, so a second run embeds nothing
    again = evaluate("longmemeval", [data], tmp_path / "again", embedder=embedder,
                     cache=out / "cache", progress=False)
    assert again.manifest["embedding"]["embedded_this_run"] == 0
    assert again.manifest["embedding"]["cache_hits"] > 0
    assert again.metrics["session"] == metrics["session"]
    # a resume with another configuration is refused
    with pytest.raises(ConfigError, match="another configuration"):
        evaluate("longmemeval", [data], out, resume=True, embedder=embedder, progress=False,
                 config=RunConfig("longmemeval", granularity="session"))


def test_session_granularity_ranks_turns_by_first_appearance(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    data = write_json(tmp_path / "lme.json", longmemeval_items())
    result = evaluate("longmemeval", [data], tmp_path / "run", embedder=embedder,
                      progress=False, config=RunConfig("longmemeval", granularity="session"))
    rows = [json.loads(x) for x in (tmp_path / "run" / "predictions.jsonl").read_text()
            .splitlines()]
    kayak = rows[0]
    # the top unit is the whole kayak session: its turns lead, in order
    assert kayak["ranked_turn_ids"][:2] == ["answer_k1_1", "answer_k1_2"]
    assert result.metrics["turn"]["recall_all@1"] <= result.metrics["session"]["recall_all@1"]


def test_qa_mode_with_scripted_stand_in(tmp_path: Path,
                                        embedder: SentenceTransformerEmbedder) -> None:
    data = write_json(tmp_path / "longmemeval_s.json", longmemeval_items())
    reader = ScriptedStandInLLM("scripted-reader", {}, default="I think the answer is here.")
    judge = ScriptedStandInLLM("scripted-judge", {
        "What name did I give my kayak?": ["Yes."],
        "How old is the dog": ["INCORRECT", "no"],        # unparseable, then retried
        "What colour is my new car?": ["Maybe", "Probably"],  # unparseable twice
    }, default="yes")
    result = evaluate("longmemeval", [data], tmp_path / "qa", llm=reader, judge=judge,
                      embedder=embedder, progress=False,
                      config=RunConfig("longmemeval", retrieval_only=False, k=3))
    rows = {r["question_id"]: r for r in map(json.loads, (tmp_path / "qa" / "predictions.jsonl")
                                            .read_text().splitlines())}
    assert rows["q_kayak"]["verdict"] == "yes" and rows["q_kayak"]["judge_raw"] == "Yes."
    assert rows["q_dog"]["verdict"] == "no" and rows["q_dog"]["judge_raw"] == "no"
    assert rows["q_car_abs"]["verdict"] is None
    assert rows["q_car_abs"]["hypothesis"] == "I think the answer is here."
    qa = result.metrics["qa"]
    assert qa["overall"] == pytest.approx(1 / 3)
    assert qa["abstention"] == 0.0 and qa["unparsed_verdicts"] == 1
    # the reader prompt: sessions sorted by date, JSON turns, Chain-of-Note
    texts = [r.as_messages()[-1]["content"] for r in reader.requests]
    dog_prompt = next(t for t in texts if "How old is the dog" in t)
    assert dog_prompt is not None
    assert "step by step" in dog_prompt and "Current Date: 2023/06/10 (Sat) 12:00" in dog_prompt
    d1 = dog_prompt.index("Session Date: 2023/06/01 (Thu) 07:30")
    d2 = dog_prompt.index("Session Date: 2023/06/05 (Mon) 08:00")
    assert d1 < d2
    assert '[{"role": "user", "content": "Rex turned five years old yesterday."}' in dog_prompt
    assert dog_prompt.count("### Session ") == 3  # k=3 round units, three sessions
    # the abstention question is judged with the abstention prompt
    car_judge = [t for t in (r.as_messages()[-1]["content"] for r in judge.requests)
                 if "What colour is my new car?" in t]
    assert len(car_judge) == 2 and "unanswerable" in car_judge[0]
    usage = result.manifest["llm_usage"]
    assert usage["reader"]["calls"] == 3 and usage["judge"]["calls"] == 5
    assert usage["reader"]["prompt_tokens"] > 0
    assert result.manifest["judge"]["comparable"] is False
    assert "NOT comparable" in (tmp_path / "qa" / "report.md").read_text()
    # the completions were kept in the cache folder: the same run again asks nothing
    asked = (len(reader.requests), len(judge.requests))
    again = evaluate("longmemeval", [data], tmp_path / "qa", llm=reader, judge=judge,
                     embedder=embedder, progress=False, overwrite=True,
                     config=RunConfig("longmemeval", retrieval_only=False, k=3))
    assert (len(reader.requests), len(judge.requests)) == asked
    assert again.metrics["qa"] == qa
    assert again.manifest["llm_cache_misses"] == 0 and again.manifest["llm_cache_hits"] > 0
    assert again.manifest["llm_usage"]["reader"]["prompt_tokens"] == 0


# -- the real LoCoMo dev files -------------------------------------------------------------

needs_locomo = pytest.mark.skipif(not LOCOMO_DIR.exists(), reason="LoCoMo dev files absent")

# From ../shared/data/locomo/README.md: 760 questions, single turns ranked.
REFERENCE = {
    "bm25": {"s_all5": 0.713, "s_any5": 0.830, "t_all10": 0.483, "t_any10": 0.576},
    "dense": {"s_all5": 0.643, "s_any5": 0.763, "t_all10": 0.453, "t_any10": 0.557},
}


def _points(metrics: dict[str, Any]) -> dict[str, float]:
    return {"s_all5": metrics["session"]["recall_all@5"],
            "s_any5": metrics["session"]["recall_any@5"],
            "t_all10": metrics["turn"]["recall_all@10"],
            "t_any10": metrics["turn"]["recall_any@10"]}


@needs_locomo
def test_locomo_bm25_reference_points(tmp_path: Path) -> None:
    result = evaluate("locomo", [LOCOMO_DIR], tmp_path / "bm25", progress=False,
                      config=RunConfig("locomo", retriever="bm25", granularity="turn"))
    assert result.metrics["n"]["session"] == 760
    for key, want in REFERENCE["bm25"].items():
        assert _points(result.metrics)[key] == pytest.approx(want, abs=0.01), key


@needs_locomo
def test_locomo_dense_reference_points(tmp_path: Path,
                                       embedder: SentenceTransformerEmbedder) -> None:
    result = evaluate("locomo", [LOCOMO_DIR], tmp_path / "dense", progress=False,
                      embedder=embedder,
                      config=RunConfig("locomo", granularity="turn", mode="dense",
                                        time_aware=False, context_turns=0))
    for key, want in REFERENCE["dense"].items():
        assert _points(result.metrics)[key] == pytest.approx(want, abs=0.01), key


class _KeyedThoughtsStandIn(BaseLLM):
    """A scripted stand-in (not a model): answers post-thinking requests with a fixed
    thought when the exchange mentions a key, with no thought otherwise."""

    name = "scripted-thinker"

    def __init__(self, thoughts: dict[str, tuple[str, str, str, str]]) -> None:
        self.thoughts = thoughts

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        out = []
        for r in requests:
            exchange = r.as_messages()[-1]["content"].rsplit("Exchange (", 1)[-1]
            found = [v for k, v in self.thoughts.items() if k in exchange]
            out.append(Completion(text=json.dumps({"thoughts": [
                {"head": h, "relation": rel, "tail": t, "text": x} for h, rel, t, x in found]}),
                prompt_tokens=10, completion_tokens=5))
        return out


def test_thoughts_mode_credits_a_thought_to_its_source_turns(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    data = write_json(tmp_path / "longmemeval_s.json", longmemeval_items())
    llm = _KeyedThoughtsStandIn({"kayak": ("user", "named kayak", "Pebble",
                                           "The user's red kayak is called Pebble.")})
    result = evaluate("longmemeval", [data], tmp_path / "tim", llm=llm, embedder=embedder,
                      progress=False, config=RunConfig("longmemeval", thoughts=True))
    rows = {r["question_id"]: r for r in map(json.loads, (tmp_path / "tim" /
                                                           "predictions.jsonl")
                                            .read_text().splitlines())}
    kayak = rows["q_kayak"]
    assert "thought" in kayak["top_kinds"][:2]
    assert kayak["ranked_session_ids"][0] == "answer_k1"
    assert "thought" not in rows["q_car_abs"]["top_kinds"][3:]  # one thought in all
    assert result.manifest["config"]["thoughts"] is True
    assert result.manifest["llm_usage"]["post_thinking"]["calls"] == 8  # one per exchange
    with pytest.raises(ConfigError, match="post-thinking needs an LLM"):
        evaluate("longmemeval", [data], tmp_path / "x", embedder=embedder, progress=False,
                 config=RunConfig("longmemeval", thoughts=True))
