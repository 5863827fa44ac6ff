"""Captioning throughput on CPU: images/second of predict (decode + resize + encode + search).

    python scripts/bench_captioning.py --ckpt outputs/captioning/runs/<run>/checkpoints/last.ckpt

Runs greedy and beam search (default widths 1 and 3) side by side in one process over the same
images, median of ``--repeats`` passes, and prints a markdown table with the machine load
(the 1-minute load average) so that numbers from a shared machine can be judged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from tasks.captioning.module import CaptioningModule


def load_captioner(path: Path) -> CaptioningModule:
    """Rebuild the module from a checkpoint's hyperparameters and weights (weights-only load)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    module = CaptioningModule(hparams["model"], hparams.get("optim", {}), hparams["artifacts"])
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval()


def throughput(module, paths: list[str], options: dict, batch_size: int, repeats: int) -> float:
    """Median images/second of ``predict_items`` over ``paths`` in chunks of ``batch_size``."""
    rates = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, len(paths), batch_size):
                for _ in module.predict_items(paths[i : i + batch_size], options):
                    pass
            rates.append(len(paths) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="captioning checkpoint (.ckpt)")
    parser.add_argument("--images", default="data/captioning_shapes/test", help="image folder")
    parser.add_argument("--count", type=int, default=256, help="images per pass")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    module = load_captioner(Path(args.ckpt))
    paths = sorted(str(p) for p in Path(args.images).glob("*.png"))[: args.count]
    if not paths:
        raise SystemExit(f"no .png images in {args.images}: generate the corpus first")
    module.predict_items(paths[:2], {})  # warm-up
    rows = []
    for beam in args.beams:
        search = {"search": "greedy"} if beam == 1 else {"search": "beam", "beam_size": beam}
        for batch_size in args.batch_sizes:
            rate = throughput(module, paths, search, batch_size, args.repeats)
            rows.append(
                {
                    "search": search["search"],
                    "beam": beam,
                    "batch": batch_size,
                    "images_per_s": rate,
                }
            )
    load = os.getloadavg()[0]
    print(
        f"images: {len(paths)} from {args.images}, threads: {args.threads}, load average (1 min): {load:.1f}\n"
    )
    print("| search | beam | batch | images/s |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['search']} | {row['beam']} | {row['batch']} | {row['images_per_s']:.1f} |")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"load_average": load, "threads": args.threads, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
