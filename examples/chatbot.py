"""An interactive chatbot with long-term memory, against a vLLM server.

Every store is on: episodic memory with fact-augmented keys, Think-in-Memory
thoughts, and MemoryBank's forgetting curve, daily summaries and user portrait. Each
message is answered from memory (recall before answering), and the exchange is stored
and post-thought into thoughts after the answer.

Start a vLLM server first (any chat model; the small packaged one on a CPU):

    python -m agentmem.llm.smollm2          # prints the converted model's folder
    VLLM_CPU_KVCACHE_SPACE=1 python -m vllm.entrypoints.openai.api_server \\
        --model FOLDER --served-model-name smollm2 --port 8000 \\
        --max-model-len 2048 --enforce-eager --dtype float32

then chat (type /help for the commands; the memory persists in --path):

    python examples/chatbot.py --server http://127.0.0.1:8000/v1 --model smollm2

Lines may also come from a pipe: `printf 'I live in Porto.\\n/thoughts\\n' | python
examples/chatbot.py ...`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from agentmem import Decay, Memory, Summaries, ThoughtConfig
from agentmem.llm import load_llm
from agentmem.stores import KeyExpansion

HELP = """commands:
  /memories QUERY   what search recalls for QUERY
  /thoughts         the active thoughts (relation triples) about you
  /profile          the daily summaries and your portrait so far
  /summarize        write the summaries and portrait now
  /stats            what the memory holds
  /quit             leave (end of input too)"""


def show_hits(mem: Memory, user: str, query: str, k: int) -> None:
    hits = mem.search(query, user_id=user, k=k)
    if not hits:
        print("  (nothing recalled)")
    for rank, hit in enumerate(hits, 1):
        first = hit.text.splitlines()[0] if hit.text else ""
        print(f"  {rank}. [{hit.timestamp:%Y-%m-%d %H:%M}] {hit.kind:8} {first[:100]}")


def command(mem: Memory, user: str, line: str, k: int) -> bool:
    """Run a /command; False when the chat should end."""
    name, _, arg = line.partition(" ")
    if name in ("/quit", "/exit"):
        return False
    if name == "/memories":
        show_hits(mem, user, arg or "me", k)
    elif name == "/thoughts":
        thoughts = mem.thoughts(user)
        print(f"  {len(thoughts)} active thoughts")
        for t in thoughts:
            print(f"  - ({t.head} | {t.relation} | {t.tail}) {t.text}")
    elif name == "/profile":
        profile = mem.profile(user)
        for day, events, personality in profile.days:
            print(f"  {day}: {events}")
            if personality:
                print(f"    personality: {personality}")
        print(f"  summary: {profile.summary or '(none yet)'}")
        print(f"  portrait: {profile.portrait or '(none yet)'}")
    elif name == "/summarize":
        print(f"  {mem.summarize(user)} summaries written")
    elif name == "/stats":
        stats = mem.stats()
        print(f"  {stats.users} users, {stats.sessions} sessions, {stats.turns} turns, "
              f"units {stats.units}, thoughts {stats.thoughts}")
        for operation, usage in sorted(stats.llm_usage.items()):
            print(f"  llm {operation}: {usage['calls']:.0f} calls, "
                  f"{usage['completion_tokens']:.0f} tokens out, {usage['wall_s']:.1f} s")
    else:
        print(HELP)
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default="http://127.0.0.1:8000/v1",
                    help="the vLLM server's OpenAI-compatible base URL")
    ap.add_argument("--model", default="smollm2", help="the served model name")
    ap.add_argument("--llm", default=None,
                    help="an agentmem LLM spec instead of --server/--model, e.g. "
                         "vllm:/path/to/model for the in-process engine")
    ap.add_argument("--path", default="./chatbot-memory", help="memory folder")
    ap.add_argument("--user", default="me", help="whose memory this is")
    ap.add_argument("--session", default=None,
                    help="conversation id (default: one per start, from the clock)")
    ap.add_argument("--k", type=int, default=5, help="memories recalled per answer")
    ap.add_argument("--max-tokens", type=int, default=256, help="answer length limit")
    ap.add_argument("--show-memories", action="store_true",
                    help="print what was recalled before each answer")
    args = ap.parse_args()

    llm = load_llm(args.llm or f"openai:{args.server}@{args.model}")
    session = args.session or datetime.now(UTC).strftime("chat-%Y%m%d-%H%M%S")
    with Memory(path=args.path, llm=llm, keys=KeyExpansion(), thoughts=ThoughtConfig(),
                decay=Decay(), summaries=Summaries()) as mem:
        print(f"agentmem chatbot: user {args.user!r}, session {session!r}, memory in "
              f"{args.path}. /help for commands.")
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                print()
                break
            if not line:
                continue
            if line.startswith("/"):
                if not command(mem, args.user, line, args.k):
                    break
                continue
            if args.show_memories:
                show_hits(mem, args.user, line, args.k)
            # recall, answer, then store the exchange (which post-thinks it)
            answer = mem.respond(line, user_id=args.user, session_id=session, k=args.k,
                                 max_tokens=args.max_tokens)
            if answer.error:
                print(f"bot> (no answer: {answer.error})")
                continue
            print(f"bot> {answer.text}")
        stats = mem.stats()
        thoughts = ", ".join(f"{n} {status}" for status, n in sorted(stats.thoughts.items()))
        failed = sum(stats.llm_failures.values())
        print(f"memory: {stats.turns} turns; thoughts: {thoughts or 'none'}; "
              f"{failed} LLM replies skipped as unusable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
