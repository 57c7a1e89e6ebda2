"""
`python -m bench ingest|groups|abandon|claim|dispatch|feed|dashboard|all [--db …]`:
run benchmarks and print their results as JSON (also written under bench/results/).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.abandon import bench_claim_scaling, bench_lateness
from bench.dashboard import bench_dashboard
from bench.dispatch import bench_dispatch, bench_due_to_sent
from bench.feed import bench_feed
from bench.groups import bench_groups
from bench.ingest import bench_ingest

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    """
    Parse the command line and run the chosen benchmarks.
    """
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "suite",
        choices=["ingest", "groups", "abandon", "claim", "dispatch", "feed", "dashboard", "all"],
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=10, help="length of each load phase")
    parser.add_argument(
        "--largest", type=int, default=1_000_000, help="claim, dispatch: largest table"
    )
    parser.add_argument(
        "--due", type=int, default=20_000, help="dispatch: due touches one worker drains"
    )
    parser.add_argument(
        "--rate", type=int, default=300, help="dispatch: touches falling due per second"
    )
    parser.add_argument("--items", type=int, default=100_000, help="feed: catalog items")
    parser.add_argument(
        "--carts", type=int, default=1_000_000, help="dashboard: carts of the large store"
    )
    parser.add_argument(
        "--requests", type=int, default=20, help="dashboard: timed requests per page"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: list[dict[str, Any]] = []
    for backend in backends:
        if args.suite in ("ingest", "all"):
            results.append({"suite": "ingest", **bench_ingest(backend, seconds=args.seconds)})
        if args.suite in ("groups", "all"):
            results.append({"suite": "groups", **bench_groups(backend)})
        if args.suite in ("abandon", "all"):
            results.append({"suite": "abandon", **bench_lateness(backend)})
        if args.suite in ("claim", "all"):
            results.append(
                {"suite": "claim", **bench_claim_scaling(backend, sizes=(10_000, args.largest))}
            )
        if args.suite in ("dispatch", "all"):
            sizes = (10_000, args.largest)
            results.append(
                {"suite": "dispatch", **bench_dispatch(backend, sizes=sizes, due=args.due)}
            )
            print(json.dumps(results[-1], indent=2), flush=True)
            latency = bench_due_to_sent(backend, rate=args.rate, seconds=args.seconds * 2)
            results.append({"suite": "dispatch-latency", **latency})
        if args.suite in ("feed", "all"):
            results.append({"suite": "feed", **bench_feed(backend, items=args.items)})
        if args.suite in ("dashboard", "all"):
            report = bench_dashboard(backend, cart_count=args.carts, requests=args.requests)
            results.append({"suite": "dashboard", **report})
        print(json.dumps(results[-1], indent=2), flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.suite}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"written to {path}")


main()
