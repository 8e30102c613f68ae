"""Benchmark of fault tolerance: kill real CLI processes mid-write and count what survives.

Prints one row per fault: how often it was injected, how many times the dataset was intact
afterwards (a kill at a random moment that came after the process ended is not counted;
integrity check ok, old or new self, next run works), edits lost (must be 0) and
whether the message was clear (one line, no traceback). Downloads and tiny training runs
(issue 14) are killed at their named points too; for them "intact" means no partial file or
manifest is left, the run is failed on reconcile and the next run of the command succeeds.

    python bench/faults.py [--random 4] [--seed 14] [--no-training]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.core.faults.harness import (  # noqa: E402
    FIRST_IMPORT_POINTS,
    IMPORT_POINTS,
    Lab,
    Outcome,
    corrupt_store,
    full_disk_during_import,
    kill_bulk_relabel,
    kill_first_import,
    kill_replace,
)
from tests.core.faults.jobs_harness import (  # noqa: E402
    DOWNLOAD_POINTS,
    TRAIN_POINTS,
    add_tiny_dataset,
    kill_download,
    kill_training,
)


def run_all(
    folder: Path, n_random: int, rng: random.Random, *, training: bool = True
) -> list[tuple[str, Outcome]]:
    """Every fault once at each named point, plus ``n_random`` kills at random moments."""
    results: list[tuple[str, Outcome]] = []
    for i, point in enumerate(FIRST_IMPORT_POINTS):
        results.append(
            ("SIGKILL first ingest (named points)", kill_first_import(Lab(folder / f"first{i}"), fault=point))
        )
    lab = Lab(folder / "shared")
    lab.run(lab.ingest_args("a"))
    for point in IMPORT_POINTS:
        results.append(("SIGKILL ingest --replace (named points)", kill_replace(lab, fault=point)))
    for _ in range(n_random):
        results.append(
            ("SIGKILL ingest --replace (random moment)", kill_replace(lab, kill_after=rng.uniform(0.3, 2.5)))
        )
        results.append(
            ("SIGKILL bulk relabel (random moment)", kill_bulk_relabel(lab, kill_after=rng.uniform(1.0, 3.0)))
        )
    results.append(("disk full during ingest", full_disk_during_import(lab)))
    results.append(("damaged studio.db", corrupt_store(lab)))
    results += run_jobs(folder, training=training)
    return results


def run_jobs(folder: Path, *, training: bool) -> list[tuple[str, Outcome]]:
    """Downloads killed at each named point (fresh and resuming), then training runs (foreground, queue)."""
    results: list[tuple[str, Outcome]] = []
    for i, point in enumerate(DOWNLOAD_POINTS):
        for resume in (False, True):
            lab = Lab(folder / f"download{i}{int(resume)}", n_images=1)
            name = (
                "SIGKILL download, resuming (named points)" if resume else "SIGKILL download (named points)"
            )
            results.append((name, kill_download(lab, fault=point, resume=resume)))
    if not training:
        return results
    lab = Lab(folder / "training", n_images=1)
    add_tiny_dataset(lab)
    for background in (False, True):
        name = f"SIGKILL training, {'background' if background else 'foreground'} (named points)"
        for point in TRAIN_POINTS:
            results.append((name, kill_training(lab, fault=point, background=background)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=4, help="kills at random moments per fault")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-training", action="store_true", help="skip the training faults (about 4 min)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fas_bench_faults_"))
    try:
        results = run_all(folder, args.random, random.Random(args.seed), training=not args.no_training)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    table: dict[str, list[Outcome]] = defaultdict(list)
    for name, outcome in results:
        table[name].append(outcome)
    print(f"{'fault':48} {'injected':>8} {'intact':>7} {'edits lost':>10} {'message clear':>14}")
    for name, outcomes in table.items():
        clear = "yes" if all(o.message_clear for o in outcomes) else "no"
        print(
            f"{name:48} {len(outcomes):8d} {sum(o.intact for o in outcomes):7d}"
            f" {sum(o.edits_lost for o in outcomes):10d} {clear:>14}"
        )
    bad = [o for _, o in results if not (o.intact and o.edits_lost == 0 and o.message_clear)]
    for o in bad:
        print(f"  FAILED {o.fault}: {o.detail}")
    print("PASS" if not bad else "MISS")


if __name__ == "__main__":
    main()
