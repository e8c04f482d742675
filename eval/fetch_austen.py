"""Jane Austen's six novels as plain text, without the internet beyond Debian's archive.

    .venv/bin/python eval/fetch_austen.py [--out ~/.cache/agentmem/austen]

Debian's ``r-cran-janeaustenr`` package carries the novels as R data. This script:
1. fetches the .deb with ``apt-get download`` (nothing is installed; installing the
   package would pull in R);
2. unpacks it with ``dpkg -x``;
3. reads ``data/Rdata.rdx``, a gzip'd R object mapping each novel to an (offset,
   length) slice of ``data/Rdata.rdb``. Each slice is a 4-byte length header then zlib
   data, parsed with the PyPI package ``rdata`` into the novel's lines;
4. writes ``<out>/<novel>.txt``, one line per line of the book.

Existing files are kept, so it is a cache. Prints the novels and their word counts.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

PACKAGE = "r-cran-janeaustenr"
NOVELS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice",
          "sensesensibility")
DEFAULT_OUT = Path.home() / ".cache" / "agentmem" / "austen"


def read_novels(data_dir: Path) -> dict[str, list[str]]:
    """Each novel's lines from an unpacked ``janeaustenr/data`` folder."""
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata: "Unknown file type: assumed RDS"
        index = rdata.conversion.convert(rdata.parser.parse_data(
            gzip.decompress((data_dir / "Rdata.rdx").read_bytes())))
        blob = (data_dir / "Rdata.rdb").read_bytes()
        out: dict[str, list[str]] = {}
        for name, (offset, length) in index["variables"].items():
            part = blob[int(offset) : int(offset) + int(length)]
            lines = rdata.conversion.convert(rdata.parser.parse_data(
                zlib.decompress(part[4:])))
            out[str(name)] = [str(x) for x in lines]
    return out


def fetch(out: Path) -> dict[str, Path]:
    """The six novels under ``out`` (downloaded and converted if missing)."""
    files = {n: out / f"{n}.txt" for n in NOVELS}
    if all(f.exists() and f.stat().st_size > 0 for f in files.values()):
        return files
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"error: {tool} is needed to fetch {PACKAGE} (a Debian tool)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agentmem-austen-") as tmp:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True,
                       capture_output=True)
        [deb] = Path(tmp).glob(f"{PACKAGE}_*.deb")
        subprocess.run(["dpkg", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        [data] = Path(tmp, "x").glob("usr/lib/R/site-library/janeaustenr/data")
        novels = read_novels(data)
    missing = set(NOVELS) - set(novels)
    if missing:
        raise SystemExit(f"error: {PACKAGE} lacks {sorted(missing)}")
    for name, path in files.items():
        tmp_path = path.with_suffix(".txt.partial")
        tmp_path.write_text("\n".join(novels[name]) + "\n", encoding="utf-8")
        tmp_path.replace(path)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    files = fetch(args.out)
    for name, path in files.items():
        words = len(path.read_text(encoding="utf-8").split())
        print(f"{name:<18} {words:>7} words  {path}")


if __name__ == "__main__":
    sys.exit(main())
