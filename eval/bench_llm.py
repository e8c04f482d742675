"""Batched versus one-by-one completion of the same 64 extraction prompts, on both LLM
backends (in-process VLLMEngine and an OpenAI-compatible `vllm` server), with the small
packaged model SmolLM2-135M-Instruct.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_llm.py [--n 64] [--max-tokens 128]

Prints the figures and writes eval/results/bench_llm.json. The prompts are fact
extractions (JSON schema) over the first turns of the LoCoMo dev conversations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentmem.eval.data import load_locomo  # noqa: E402
from agentmem.llm import BaseLLM, LLMRequest, OpenAICompatibleLLM, VLLMEngine  # noqa: E402
from agentmem.llm.smollm2 import prepare_smollm2  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "maxItems": 3,
                             "items": {"type": "string", "maxLength": 80}}},
    "required": ["facts"],
    "additionalProperties": False,
}


def prompts(n: int, max_tokens: int) -> list[LLMRequest]:
    ds = load_locomo(ROOT.parent / "shared" / "data" / "locomo")
    turns = [t for h in sorted({q.haystack_id for q in ds.questions})
             for s in ds.haystack(h).sessions for t in s.turns]
    return [LLMRequest(messages=({"role": "user", "content":
                                  "Extract the facts this message states about its speaker, "
                                  f"as JSON.\n{t.name}: {t.content}"},),
                       max_tokens=max_tokens, json_schema=SCHEMA, operation="extract")
            for t in turns[:n]]


def measure(llm: BaseLLM, reqs: list[LLMRequest]) -> dict[str, Any]:
    llm.complete(reqs[:2])  # warm-up
    out: dict[str, Any] = {}
    for mode in ("batched", "one_by_one"):
        start = time.perf_counter()
        if mode == "batched":
            done = llm.complete(reqs)
        else:
            done = [c for r in reqs for c in llm.complete([r])]
        wall = time.perf_counter() - start
        tokens = sum(c.completion_tokens for c in done)
        out[mode] = {"wall_s": round(wall, 2), "completion_tokens": tokens,
                     "tokens_per_s": round(tokens / wall, 1),
                     "valid_json": sum(c.ok for c in done), "retried": sum(c.retried
                                                                          for c in done)}
        print(f"  {mode:<10} {wall:7.1f} s  {tokens:6d} tokens  {tokens / wall:7.1f} tok/s  "
              f"valid JSON {out[mode]['valid_json']}/{len(reqs)}", flush=True)
    out["speedup_batched"] = round(out["one_by_one"]["wall_s"] / out["batched"]["wall_s"], 2)
    print(f"  batched is {out['speedup_batched']}x faster", flush=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compare_dtypes(model: Path, reqs: list[LLMRequest], dtypes: list[str], out: Path
                   ) -> None:
    result: dict[str, Any] = {"model": model.name, "n": len(reqs), "cpus": os.cpu_count(),
                              "machine": platform.machine(), "batched": {}}
    for dtype in dtypes:
        engine = VLLMEngine(model, dtype=dtype)
        engine.complete(reqs[:2])  # warm-up
        start = time.perf_counter()
        done = engine.complete(reqs)
        wall = time.perf_counter() - start
        engine.close()
        tokens = sum(c.completion_tokens for c in done)
        result["batched"][dtype] = {"wall_s": round(wall, 2), "completion_tokens": tokens,
                                    "tokens_per_s": round(tokens / wall, 1)}
        print(f"  {dtype:<10} {wall:7.1f} s  {tokens:6d} tokens  {tokens / wall:7.1f} tok/s",
              flush=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", default=None,
                        help="JSON output (default eval/results/bench_llm.json, or "
                             "bench_llm_dtype.json with --dtypes)")
    parser.add_argument("--dtypes", nargs="+", metavar="DTYPE",
                        help="instead: the in-process engine's batched throughput under each "
                             "dtype (e.g. float32 bfloat16), one engine after the other")
    args = parser.parse_args()
    model = prepare_smollm2()
    reqs = prompts(args.n, args.max_tokens)
    if args.dtypes:
        compare_dtypes(model, reqs, args.dtypes, Path(args.out or ROOT / "eval" / "results"
                                                      / "bench_llm_dtype.json"))
        return
    args.out = args.out or str(ROOT / "eval" / "results" / "bench_llm.json")
    result: dict[str, Any] = {"model": model.name, "n": len(reqs),
                              "max_tokens": args.max_tokens, "cpus": os.cpu_count(),
                              "machine": platform.machine()}

    print("in-process VLLMEngine", flush=True)
    start = time.perf_counter()
    engine = VLLMEngine(model)
    result["engine_start_s"] = round(time.perf_counter() - start, 1)
    result["engine"] = measure(engine, reqs)
    engine.close()

    print("OpenAI-compatible server (vllm api_server)", flush=True)
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-m",
         "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--served-model-name", "smollm2", "--max-model-len", "2048",
         "--enforce-eager", "--dtype", "float32"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("the vLLM server exited")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        result["server_start_s"] = round(time.perf_counter() - start, 1)
        client = OpenAICompatibleLLM(f"http://127.0.0.1:{port}/v1", "smollm2",
                                     max_concurrency=64)
        result["server"] = measure(client, reqs)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
