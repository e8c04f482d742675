"""The documentation site builds without a warning (`mkdocs build --strict`), and its
API reference, generated from the docstrings, documents every public name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import agentmem

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strict_with_every_public_name(tmp_path: Path) -> None:
    site = tmp_path / "site"
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr[-4000:]
    assert "WARNING" not in res.stderr, res.stderr[-4000:]
    reference = "".join(p.read_text(encoding="utf-8")
                        for p in (site / "reference").rglob("index.html"))
    # mkdocstrings gives each documented object an anchor named by its path
    anchors = set(re.findall(r'id="(agentmem[\w.]*)"', reference))
    documented = {a.rsplit(".", 1)[-1] for a in anchors}
    missing = [name for name in agentmem.__all__
               if not name.startswith("__") and name not in documented]
    assert not missing, f"public names without reference docs: {missing}"
    for name in ("AgentMemChatMessageHistory", "AgentMemRetriever", "AgentMemStore",
                 "load_llm", "VLLMEngine", "OpenAICompatibleLLM"):
        assert name in documented, name
    # Sphinx roles in the docstrings are rendered as code, not shown raw
    assert ":class:" not in reference and ":meth:" not in reference
    memory_page = (site / "reference" / "memory" / "index.html").read_text(encoding="utf-8")
    for method in ("add", "search", "respond", "forget_user", "export", "maintain"):
        assert f'id="agentmem.Memory.{method}"' in memory_page, method
