"""Side-by-side search latency of two source trees of agentmem (before/after a change).

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_parity.py --before ../wt-before --after .
        [--rounds 10] [--queries 100] [--modes hybrid] [--copies 2] [--out FILE]

The refactor's bar: the core benchmark's search p50 must not get worse by more than
5% in a side-by-side run. Timing two trees one after the other mixes the change with
the machine's drift, so this script keeps both alive at once and alternates them.

Each tree gets a worker process whose ``sys.path`` starts with that tree (it checks
that ``agentmem`` was imported from there). The worker builds an on-disk memory the
way eval/bench_core.py does (turn granularity, the packaged all-MiniLM-L6-v2 embedder)
from the real LoCoMo conversations (eval/locomo_text.py; 2,760 turns in the five dev
conversations), ``--copies`` times over, each copy of a conversation its own user
(default 2: 5,520 turns, 10 users). The stored texts' vectors come from a cache kept
between runs (``--vector-cache``, a text -> vector table filled with what the model
embedded; the first run on a machine fills it, which takes a few minutes on 2 cores),
so both trees index the very same vectors and a build takes seconds
(``--no-share-vectors``: each tree embeds everything itself). Queries are always
embedded for real, at search time, inside the timing.

After ``--warmup`` queries each (not counted), ``--rounds`` rounds: in each, both
workers run the same ``--queries`` LoCoMo questions (each against its conversation's
user, ``now`` = the conversation's last session date), taking turns every ``--chunk``
queries (default 1: query by query), the one going first alternating (ABBA), so that
both see the same machine and neither always runs first. The worker not searching
waits on its stdin. Questions are not repeated across rounds unless the rounds need
more than there are (then a round marker is appended); as in bench_core, the mode is
appended to each question (``"... [hybrid]"``), so no search hits the query cache. The
figures: per tree and mode, p50/p95/mean over all rounds and each round's p50; the
ratio after/before of the pooled p50 (the bar), the median of the per-query paired
ratios, and the per-round p50 ratios (their spread shows the noise).
Both trees' results are compared too: the queries whose hits (texts, in order) differ,
and those whose fused scores differ by more than 1e-4. The dense index is approximate
(HNSW) and Chroma's build is not deterministic, so even one tree against itself shows
a few score differences (the candidate set moves the score normalisation); run a tree
against itself to see that floor.

Printed, and written as JSON to ``--out`` (default eval/results/bench_parity.json).
Exit status 0; with ``--strict``, 1 when an after/before p50 ratio is over
``--max-ratio`` (default 1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
MARK = "@@parity "
#: the stored texts' vectors (text -> all-MiniLM-L6-v2 vector), kept between runs
VECTOR_CACHE = Path(tempfile.gettempdir()) / "agentmem-bench-parity" / "vectors.npz"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# --------------------------------------------------------------------------- worker


def _send(obj: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _git_state(tree: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True,
                              text=True, check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "agentmem")
    return commit + (" + uncommitted changes in agentmem/" if dirty else "")


def worker(tree: Path, workdir: Path, vectors: Path | None, copies: int,
           granularity: str) -> None:
    """Build one memory from ``tree``'s agentmem and answer search rounds read from
    stdin (one JSON object a line) until told to quit."""
    tree = tree.resolve()
    sys.path.insert(0, str(tree))
    import numpy as np

    import agentmem
    from agentmem import Memory, SentenceTransformerEmbedder

    where = Path(agentmem.__file__ or "").resolve()
    if not where.is_relative_to(tree):
        raise SystemExit(f"agentmem came from {where}, not from {tree}")
    sys.path.insert(1, str(HERE))
    from bench_core import DerivedEmbedder  # this script's copy: same for both trees
    from locomo_text import load_sessions

    real = SentenceTransformerEmbedder()
    table: dict[str, np.ndarray] = {}
    if vectors is not None and vectors.exists():
        with np.load(vectors, allow_pickle=False) as data:
            table = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))

    class Recording(DerivedEmbedder):
        """Stored texts from ``table`` when there, else the model; remembers what the
        model embedded so the other worker can reuse it."""

        def __init__(self) -> None:
            super().__init__(real, table)
            self.name = real.name  # the same cache key as the real model
            self.recording = True
            self.hits = self.embedded = 0

        def embed(self, texts: Any) -> Any:
            if not self.recording:
                return super().embed(texts)
            fresh = [t for t in texts if t not in table]
            self.hits += len(texts) - len(fresh)
            self.embedded += len(fresh)
            out = super().embed(texts)
            for text, vec in zip(texts, out, strict=True):
                table.setdefault(text, vec)
            return out

    emb = Recording()
    known = len(table)
    sessions = load_sessions()
    real.embed(["warm up"])
    t0 = time.perf_counter()
    mem = Memory(workdir / "m", embedder=emb, granularity=granularity)
    turns = 0
    for s in sessions:
        msgs = [{"role": "user", "name": t["speaker"], "content": t["text"]}
                for t in s.turns]
        for c in range(copies):
            mem.add(msgs, user_id=f"{s.conversation}-{c}",
                    session_id=f"{s.conversation}-{s.index}", timestamp=s.date_time)
            turns += len(msgs)
    build_s = time.perf_counter() - t0
    emb.recording = False
    if vectors is not None and len(table) > known:
        texts = list(table)
        vectors.parent.mkdir(parents=True, exist_ok=True)
        partial = vectors.with_suffix(".partial.npz")
        np.savez(partial, texts=np.array(texts), vectors=np.stack([table[t] for t in texts]))
        partial.replace(vectors)
    stats = mem.stats()
    units = sum(stats.units.values())
    _send({"ready": True, "tree": str(tree), "agentmem": str(where), "git": _git_state(tree),
           "build_s": build_s, "turns": turns, "units": units, "users": stats.users,
           "vectors_reused": emb.hits, "vectors_embedded": emb.embedded,
           "pending_index_repairs": stats.pending_index_repairs})
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            break
        latencies, results = [], []
        for user, query, now in request["queries"]:
            t0 = time.perf_counter()
            hits = mem.search(query, user_id=user, k=request["k"], mode=request["mode"],
                              now=now)
            latencies.append((time.perf_counter() - t0) * 1000)
            results.append([[h.text, round(h.score, 5),
                             {name: round(v, 5) for name, v in sorted(h.scores.items())}]
                            for h in hits])
        _send({"latencies_ms": latencies, "results": results})
    mem.close()


# --------------------------------------------------------------------------- parent


class Worker:
    """A worker process for one tree, spoken to over its stdin/stdout."""

    def __init__(self, label: str, tree: Path, workdir: Path, vectors: Path | None,
                 args: argparse.Namespace) -> None:
        self.label = label
        workdir.mkdir(parents=True)
        self.log_path = workdir / "stderr.log"
        self.log = self.log_path.open("w")
        cmd = [sys.executable, "-u", str(Path(__file__).resolve()), "--worker", str(tree),
               "--workdir", str(workdir), "--copies", str(args.copies),
               "--granularity", args.granularity]
        if vectors is not None:
            cmd += ["--vectors", str(vectors)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(cmd, cwd=tree, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=env)
        self.info = self.receive()

    def receive(self) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        for line in out:
            if line.startswith(MARK):
                reply: dict[str, Any] = json.loads(line[len(MARK):])
                return reply
        self.log.flush()
        tail = self.log_path.read_text()[-3000:]
        raise SystemExit(f"{self.label} worker ended (rc {self.proc.wait()}):\n{tail}")

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.log.close()


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile, nearest rank (as eval/bench_core.py computes it)."""
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def load_questions(copies: int, seed: int) -> list[tuple[str, str, str]]:
    """(user, question, now) for every LoCoMo question, shuffled; each asked of one
    copy of its conversation, ``now`` its conversation's last session date."""
    sys.path.insert(0, str(HERE))
    from locomo_text import DEFAULT_DIR, load_sessions

    last = {s.conversation: s.date_time for s in load_sessions()}
    out = []
    for f in sorted(DEFAULT_DIR.glob("*.json")):
        data = json.loads(f.read_text())
        for i, q in enumerate(q for q in data.get("qa", []) if q.get("question")):
            out.append((f"{f.stem}-{i % copies}", q["question"], last[f.stem]))
    random.Random(seed).shuffle(out)
    return out


def summarise(lat: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(lat), "p95_ms": pct(lat, 95),
            "mean_ms": statistics.fmean(lat), "n": len(lat)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    questions = load_questions(args.copies, args.seed)
    with tempfile.TemporaryDirectory(prefix="agentmem-parity-") as tmp:
        vectors = args.vector_cache if args.share_vectors else None
        workers: dict[str, Worker] = {}
        try:
            for label, tree in (("before", args.before), ("after", args.after)):
                print(f"building {label}: {tree}", flush=True)
                workers[label] = Worker(label, tree.resolve(), Path(tmp) / label, vectors,
                                        args)
                info = workers[label].info
                print(f"  agentmem {info['agentmem']} ({info['git']}): {info['units']} "
                      f"units, {info['users']} users, built in {info['build_s']:.1f} s "
                      f"({info['vectors_embedded']} texts embedded, "
                      f"{info['vectors_reused']} vectors from the cache)", flush=True)
            # warm-up, outside the figures: model, connections, index segments
            warm = [(u, q + " (warm-up)", n) for u, q, n in questions[-args.warmup:]]
            for mode in args.modes:
                for w in workers.values():
                    w.ask({"queries": warm, "k": args.k, "mode": mode})
            labels = list(workers)
            lat: dict[str, dict[str, list[float]]] = {
                label: {m: [] for m in args.modes} for label in labels}
            per_round: dict[str, dict[str, list[float]]] = {
                label: {m: [] for m in args.modes} for label in labels}
            differing: dict[str, int] = dict.fromkeys(args.modes, 0)
            scores_differ: dict[str, int] = dict.fromkeys(args.modes, 0)
            examples: list[dict[str, Any]] = []
            flip = 0
            for r in range(args.rounds):
                picked = []
                for j in range(args.queries):
                    n = r * args.queries + j
                    user, q, now = questions[n % len(questions)]
                    if n >= len(questions):  # a repeat: keep it out of the query cache
                        q = f"{q} (round {r})"
                    picked.append((user, q, now))
                for mode in args.modes:
                    got: dict[str, dict[str, list[Any]]] = {
                        label: {"latencies_ms": [], "results": []} for label in labels}
                    # as in bench_core, the mode in the text: no query-cache hits
                    asked = [(user, f"{q} [{mode}]", now) for user, q, now in picked]
                    for c in range(0, len(asked), args.chunk):
                        # the two trees take turns going first, chunk by chunk
                        order = labels if flip % 2 == 0 else labels[::-1]
                        flip += 1
                        for label in order:
                            reply = workers[label].ask({"queries": asked[c:c + args.chunk],
                                                        "k": args.k, "mode": mode})
                            for key in ("latencies_ms", "results"):
                                got[label][key] += reply[key]
                    for label in labels:
                        lat[label][mode] += got[label]["latencies_ms"]
                        per_round[label][mode].append(
                            statistics.median(got[label]["latencies_ms"]))
                    pairs = zip(got["before"]["results"], got["after"]["results"],
                                strict=True)
                    for (user, q, _), (b, a) in zip(picked, pairs, strict=True):
                        if [h[0] for h in b] != [h[0] for h in a]:
                            differing[mode] += 1
                        elif any(abs(x[1] - y[1]) > 1e-4 for x, y in zip(b, a, strict=True)):
                            scores_differ[mode] += 1
                        else:
                            continue
                        if len(examples) < 5:
                            examples.append({"mode": mode, "user": user, "query": q,
                                             "before": b, "after": a})
                print(f"  round {r + 1}/{args.rounds}: " + "; ".join(
                    f"{m} p50 before {per_round['before'][m][-1]:.2f} ms, after "
                    f"{per_round['after'][m][-1]:.2f} ms" for m in args.modes), flush=True)
        finally:
            for w in workers.values():
                w.close()
    modes: dict[str, Any] = {}
    for mode in args.modes:
        b, a = summarise(lat["before"][mode]), summarise(lat["after"][mode])
        ratios = [x / y for x, y in zip(per_round["after"][mode], per_round["before"][mode],
                                        strict=True)]
        paired = [x / y for x, y in zip(lat["after"][mode], lat["before"][mode], strict=True)]
        modes[mode] = {
            "before": {**b, "round_p50_ms": per_round["before"][mode]},
            "after": {**a, "round_p50_ms": per_round["after"][mode]},
            "p50_ratio_after_over_before": a["p50_ms"] / b["p50_ms"],
            "p95_ratio_after_over_before": a["p95_ms"] / b["p95_ms"],
            "round_p50_ratios": ratios,
            "round_p50_ratio_median": statistics.median(ratios),
            "paired_ratio_median": statistics.median(paired),
            "queries_with_different_hits": differing[mode],
            "queries_with_same_hits_other_scores": scores_differ[mode],
        }
    return {
        "command": "python eval/bench_parity.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "settings": {"rounds": args.rounds, "queries_per_round": args.queries,
                     "chunk": args.chunk, "warmup": args.warmup,
                     "k": args.k, "copies": args.copies, "granularity": args.granularity,
                     "seed": args.seed, "share_vectors": args.share_vectors},
        "before": workers["before"].info,
        "after": workers["after"].info,
        "modes": modes,
        "different_hit_examples": examples,
        "max_ratio": args.max_ratio,
        "wall_s": time.perf_counter() - start,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="source tree holding agentmem/ (before)")
    ap.add_argument("--after", type=Path, help="source tree holding agentmem/ (after)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--queries", type=int, default=100, help="queries per round and tree")
    ap.add_argument("--modes", nargs="+", default=["hybrid"],
                    choices=["hybrid", "dense", "lexical"])
    ap.add_argument("--chunk", type=int, default=1,
                    help="queries a tree runs before the other takes its turn")
    ap.add_argument("--warmup", type=int, default=20,
                    help="warm-up queries per tree and mode, not counted")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--copies", type=int, default=2,
                    help="copies of each conversation, each its own user")
    ap.add_argument("--granularity", default="turn", choices=["turn", "round", "session"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vector-cache", type=Path, default=VECTOR_CACHE,
                    help="stored texts' vectors, kept between runs (default: %(default)s)")
    ap.add_argument("--no-share-vectors", dest="share_vectors", action="store_false",
                    help="no vector cache: each tree embeds the corpus itself")
    ap.add_argument("--max-ratio", type=float, default=1.05)
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when a p50 ratio is over --max-ratio")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_parity.json")
    # internal: run as one tree's worker
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.workdir, args.vectors, args.copies, args.granularity)
        return 0
    if args.before is None or args.after is None:
        ap.error("--before and --after are required")
    for tree in (args.before, args.after):
        if not (tree / "agentmem" / "__init__.py").is_file():
            ap.error(f"no agentmem/ package under {tree}")
    report = run(args)
    bad = False
    print(f"\n{report['settings']['rounds']} rounds x {report['settings']['queries_per_round']}"
          f" queries per tree, k={args.k}; before {report['before']['git']}, after "
          f"{report['after']['git']}")
    for mode, m in report["modes"].items():
        b, a = m["before"], m["after"]
        ratio = m["p50_ratio_after_over_before"]
        over = ratio > args.max_ratio
        bad |= over
        print(f"{mode}: before p50 {b['p50_ms']:.2f} ms, p95 {b['p95_ms']:.2f} ms | after "
              f"p50 {a['p50_ms']:.2f} ms, p95 {a['p95_ms']:.2f} ms | after/before p50 "
              f"{ratio:.3f} (median per-query paired ratio {m['paired_ratio_median']:.3f}; "
              f"per-round p50 ratios: median {m['round_p50_ratio_median']:.3f}, range "
              f"{min(m['round_p50_ratios']):.3f}-{max(m['round_p50_ratios']):.3f})"
              f"{' OVER ' + str(args.max_ratio) if over else ''}; queries with other hits: "
              f"{m['queries_with_different_hits']}, same hits with other scores: "
              f"{m['queries_with_same_hits_other_scores']}")
    print(f"wall {report['wall_s']:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if (bad and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
