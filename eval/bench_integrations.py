"""The LangChain / LangGraph adapters' cost over the library calls they wrap.

    python eval/bench_integrations.py [--conversation 26] [--queries 100]

One LoCoMo conversation's turns (real text) are written three ways into fresh on-disk
memories, side by side in one run:
  - `Memory.add`, one call per session (the library);
  - `AgentMemChatMessageHistory.add_messages`, one call per session (the adapter);
  - `AgentMemStore.put`, one item per turn (the LangGraph store), one put per batch
    and, into another memory, one batch of puts per session.
Then the conversation's questions are searched, interleaved query by query:
  - `Memory.search(k=5)` on the library's memory against `AgentMemRetriever.invoke`
    (k=5) on the adapter's (the same turns; each memory caches query vectors, so the
    two never share one);
  - `AgentMemStore.search(namespace, query=..., limit=5)` and `store.get` on the items.
Each timing includes embedding the query. Figures are printed and written to
eval/results/bench_integrations.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT))

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage  # noqa: E402
from langgraph.store.base import PutOp  # noqa: E402
from locomo_text import DEFAULT_DIR, load_sessions  # noqa: E402

from agentmem import Memory, SentenceTransformerEmbedder, parse_timestamp  # noqa: E402
from agentmem.integrations.langchain import (  # noqa: E402
    AgentMemChatMessageHistory,
    AgentMemRetriever,
    AgentMemStore,
)

RESULTS = ROOT / "eval" / "results" / "bench_integrations.json"


def ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(s), 2),
            "p95_ms": round(1000 * s[int(0.95 * (len(s) - 1))], 2),
            "mean_ms": round(1000 * statistics.fmean(s), 2)}


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversation", default="26", help="LoCoMo file stem")
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()

    sessions = [s for s in load_sessions(DEFAULT_DIR) if s.conversation == args.conversation]
    data = json.loads((DEFAULT_DIR / f"{args.conversation}.json").read_text())
    questions = [q["question"] for q in data["qa"]][: args.queries]
    first = sessions[0].turns[0]["speaker"]
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm-up"])
    n_turns = sum(len(s.turns) for s in sessions)
    print(f"conversation {args.conversation}: {len(sessions)} sessions, {n_turns} turns, "
          f"{len(questions)} questions")

    def messages(s: Any) -> list[dict[str, str]]:
        return [{"role": "user" if t["speaker"] == first else "assistant",
                 "content": t["text"], "name": t["speaker"]} for t in s.turns]

    out: dict[str, Any] = {"conversation": args.conversation, "sessions": len(sessions),
                           "turns": n_turns, "queries": len(questions),
                           "machine": {"cpus": os.cpu_count(),
                                       "python": platform.python_version()}}
    with tempfile.TemporaryDirectory() as tmp, \
            Memory(path=Path(tmp) / "lib", embedder=embedder) as lib, \
            Memory(path=Path(tmp) / "lc", embedder=embedder) as lc, \
            Memory(path=Path(tmp) / "store", embedder=embedder) as sm, \
            Memory(path=Path(tmp) / "batched", embedder=embedder) as bm:
        store = AgentMemStore(sm)
        batched = AgentMemStore(bm)
        add_s = hist_s = put_s = batch_s = 0.0
        for i, s in enumerate(sessions):
            when = parse_timestamp(s.date_time)
            msgs = messages(s)
            add_s += timed(lambda m=msgs, w=when, i=i: lib.add(  # type: ignore[misc]
                m, user_id="u", session_id=f"s{i}", timestamp=w))
            lc_msgs: list[BaseMessage] = [
                (HumanMessage if m["role"] == "user" else AIMessage)(
                    m["content"], name=m["name"],
                    additional_kwargs={"timestamp": when.isoformat()}) for m in msgs]
            history = AgentMemChatMessageHistory(lc, "u", f"s{i}")
            hist_s += timed(lambda h=history, m=lc_msgs: h.add_messages(m))  # type: ignore[misc]
            ops = [PutOp(("u", "turns"), f"s{i}-{j}", {"speaker": t["speaker"],
                                                       "text": t["text"]})
                   for j, t in enumerate(s.turns)]
            for op in ops:
                put_s += timed(lambda op=op: store.batch([op]))  # type: ignore[misc]
            batch_s += timed(lambda ops=ops: batched.batch(ops))  # type: ignore[misc]
        out["ingest"] = {
            "memory_add_s": round(add_s, 2), "chat_history_add_s": round(hist_s, 2),
            "chat_history_over_add": round(hist_s / add_s, 3),
            "store_put_s": round(put_s, 2),
            "store_put_ms_per_item": round(1000 * put_s / n_turns, 2),
            "store_batch_put_per_session_s": round(batch_s, 2)}

        retriever = AgentMemRetriever(memory=lc, user_id="u", k=5)
        search, retrieve, ssearch, sget = [], [], [], []
        for q in questions:  # interleaved, so drift hits each alike
            search.append(timed(lambda q=q: lib.search(q, user_id="u", k=5)))  # type: ignore[misc]
            retrieve.append(timed(lambda q=q: retriever.invoke(q)))  # type: ignore[misc]
            ssearch.append(timed(lambda q=q: store.search(  # type: ignore[misc]
                ("u", "turns"), query=q, limit=5)))
            sget.append(timed(lambda: store.get(("u", "turns"), "s0-0")))
        out["search"] = {"memory_search": ms(search), "retriever_invoke": ms(retrieve),
                         "retriever_over_search_p50": round(
                             statistics.median(retrieve) / statistics.median(search), 3),
                         "store_search": ms(ssearch), "store_get": ms(sget),
                         "store_search_over_memory_search_p50": round(
                             statistics.median(ssearch) / statistics.median(search), 3)}
    print(json.dumps(out, indent=2))
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
