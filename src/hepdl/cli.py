"""The ``hepdl`` command line: one sub-command per pipeline stage.

Every Snakemake rule is one call of this interface, so each stage can also be run by hand::

    hepdl generate --config config/ci.yaml --sample JZ4 --shard 0
    hepdl xsec --config config/ci.yaml --sample JZ4

Errors a user can cause are printed as one line naming the config key or file, with exit
status 2; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hepdl import __version__
from hepdl.config import load_config
from hepdl.errors import HepdlError

__all__ = ["main"]

log = logging.getLogger("hepdl")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, help="pipeline config (YAML), e.g. config/ci.yaml"
    )


def _cmd_generate(args: argparse.Namespace) -> None:
    from hepdl.generate import generate_shard

    config = load_config(args.config)
    result = generate_shard(
        config, args.sample, args.shard, args.output, progress=not args.no_progress
    )
    meta = result.metadata
    print(
        f"generate: {meta['sample']} shard {meta['shard']}: {result.n_events} events in "
        f"{result.seconds:.1f} s ({result.events_per_second:.1f} events/s), "
        f"sigma = {meta['sigma_pb']:.4g} +- {meta['sigma_err_pb']:.2g} pb -> {result.path}"
    )


def _cmd_xsec(args: argparse.Namespace) -> None:
    from hepdl.generate import events_path
    from hepdl.generate.xsec import write_sample_xsec
    from hepdl.samples import get_sample

    config = load_config(args.config)
    sample = get_sample(config, args.sample)
    inputs = args.inputs or [events_path(config, sample.name, k) for k in range(sample.shards)]
    output = args.output or Path(config["results"]) / "events" / sample.name / "xsec.json"
    xsec = write_sample_xsec(inputs, output)
    print(
        f"xsec: {xsec['sample']}: sigma = {xsec['sigma_pb']:.4g} +- {xsec['sigma_err_pb']:.2g} pb "
        f"from {len(inputs)} shards, {xsec['n_events']} events -> {output}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per stage."""
    parser = argparse.ArgumentParser(
        prog="hepdl",
        description="Whole-detector deep learning for collider physics: pipeline stages.",
    )
    parser.add_argument("--version", action="version", version=f"hepdl {__version__}")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")

    generate = stages.add_parser(
        "generate", help="generate one shard of one sample with Pythia 8 (Parquet)"
    )
    _add_config(generate)
    generate.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    generate.add_argument("--shard", required=True, type=int, help="shard index, from 0")
    generate.add_argument(
        "--output", type=Path, help="output file (default: {results}/events/{sample}/{shard}.parquet)"
    )
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=_cmd_generate)

    xsec = stages.add_parser("xsec", help="combine a sample's shards into its cross-section (JSON)")
    _add_config(xsec)
    xsec.add_argument("--sample", required=True, help="sample name (a key of 'samples')")
    xsec.add_argument("--inputs", nargs="+", type=Path, help="the sample's shard files")
    xsec.add_argument(
        "--output", type=Path, help="output file (default: {results}/events/{sample}/xsec.json)"
    )
    xsec.set_defaults(func=_cmd_xsec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hepdl`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except HepdlError as err:
        print(f"hepdl {args.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
