"""examples/serve_and_call.py runs a real ``agentmem serve``, calls it and stops it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_serve_and_call_example() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("AGENTMEM_TOKEN", None)
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "serve_and_call.py")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert re.search(r"serving .+ on http://127\.0\.0\.1:\d+", out)
    assert "stored 4 turns" in out
    cat = out.split("Q: What is my cat called?\n")[1].split("Q: ")[0]
    assert re.match(r"  1\. \[2024-01-05 09:00\] score 0\.\d{3} .*Miso", cat)
    trip = out.split("Q: Who comes on the trip?\n")[1]
    assert re.match(r"  1\. \[2024-02-10 18:30\] score 0\.\d{3} .*Kyoto", trip)
    assert re.search(r"async: \[2024-02-10\] score 0\.\d{3} .*Kyoto", out)
    assert out.rstrip().endswith("server stopped cleanly (SIGTERM)")
