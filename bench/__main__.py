"""Every benchmark in one go: ``.venv/bin/python -m bench`` (a few minutes).

Runs the in-process benchmarks (figures, view queries, facets, appends, bytes on
the wire), every view shape against DuckDB and polars, durable ingest against the
real server, WebSocket / long-poll fan-out, live aggregated views (one point into 2M,
20 clients of a p95 view), and fan-out over two processes in cluster mode; each prints
its own table. Pass --quick to skip the 10M-row cases.
"""
from __future__ import annotations

import subprocess
import sys


def main() -> None:
    """Run the benchmark scripts one after another."""
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    steps = [
        ["bench.run", *quick],
        ["bench.engine", "--repeat", "3", *(["--rows", "1000000", "--series", "1000"]
                                            if quick else [])],
        ["bench.ingest", "--batches", "300"],
        ["bench.ingest", "--batches", "300", "--clients", "4"],
        ["bench.fanout"],
        ["bench.liveagg"],
        ["bench.cluster"],
    ]
    for step in steps:
        print(f"\n$ python -m {' '.join(step)}", flush=True)
        subprocess.run([sys.executable, "-m", *step], check=True, timeout=900)


if __name__ == "__main__":
    main()
