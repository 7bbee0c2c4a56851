"""Cross-sections: per shard from Pythia, combined per sample into ``xsec.json``."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepdl.errors import InputFileError
from hepdl.io.atomic import check_output_path, write_json_atomic
from hepdl.io.events import read_event_metadata

__all__ = ["MB_TO_PB", "check_shard_set", "combine_shards", "write_sample_xsec"]

#: Pythia reports cross-sections in mb.
MB_TO_PB = 1.0e9


def combine_shards(shards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Combine the metadata of a sample's shards into its cross-section record.

    Each shard's sigma is Pythia's estimate from its own accepted events, so the sample's
    estimate is their mean weighted by accepted events, with the errors added in quadrature
    accordingly.

    Args:
        shards: The ``hepdl`` metadata of every shard of one sample.

    Returns:
        The sample's definition, ``sigma_pb``, ``sigma_err_pb``, event and weight sums, and
        per-shard values, as written to ``results/events/{sample}/xsec.json``.
    """
    if not shards:
        raise ValueError("no shard metadata to combine")
    names = {shard["sample"] for shard in shards}
    definitions = {repr(sorted(shard["definition"].items())) for shard in shards}
    if len(names) > 1 or len(definitions) > 1:
        raise InputFileError(
            ", ".join(sorted(names)), "shards of different samples or definitions were combined"
        )
    accepted = [shard["n_accepted"] for shard in shards]
    total_accepted = sum(accepted)
    sigma = sum(n * shard["sigma_pb"] for n, shard in zip(accepted, shards, strict=True))
    variance = sum(
        (n * shard["sigma_err_pb"]) ** 2 for n, shard in zip(accepted, shards, strict=True)
    )
    ordered = sorted(shards, key=lambda shard: shard["shard"])
    return {
        "sample": ordered[0]["sample"],
        "label": ordered[0]["label"],
        "definition": ordered[0]["definition"],
        "sigma_pb": sigma / total_accepted,
        "sigma_err_pb": math.sqrt(variance) / total_accepted,
        "n_events": sum(shard["n_events"] for shard in shards),
        "n_tried": sum(shard["n_tried"] for shard in shards),
        "n_accepted": total_accepted,
        "sum_weights": math.fsum(shard["sum_weights"] for shard in shards),
        "shards": [
            {key: shard[key] for key in ("shard", "seed", "n_events", "sigma_pb", "sigma_err_pb")}
            for shard in ordered
        ],
        "pythia_version": ordered[0]["pythia_version"],
    }


def check_shard_set(
    metadata: Sequence[tuple[Path, dict[str, Any]]], sample: str, shards: int
) -> None:
    """Check that the files are the shards 0..shards-1 of ``sample``, each exactly once.

    The cross-section is a mean over shards but ``sum_weights`` a sum: a missing or repeated
    shard gives every event of the sample a wrong weight (2x for a shard given twice), with
    no other sign of it.

    Args:
        metadata: Each input file with its shard metadata (``sample``, ``shard``).
        sample: The sample the files must belong to.
        shards: Its number of shards in the config.

    Raises:
        InputFileError: naming the file of another sample, of a shard the sample does not have
            or repeating a shard, or naming the missing shards.
    """
    seen: dict[int, Path] = {}
    for path, shard in metadata:
        if shard.get("sample") != sample:
            raise InputFileError(path, f"holds sample {shard.get('sample')!r}, not {sample!r}")
        index = shard.get("shard")
        if not isinstance(index, int) or not 0 <= index < shards:
            raise InputFileError(
                path, f"holds shard {index!r}, but {sample} has shards 0..{shards - 1}"
            )
        if index in seen:
            raise InputFileError(
                path, f"repeats shard {index} of {sample}, already read from {seen[index]}"
            )
        seen[index] = path
    missing = sorted(set(range(shards)) - set(seen))
    if missing:
        raise InputFileError(
            ", ".join(str(path) for path, _ in metadata) or "no inputs",
            f"shards {missing} of {sample} are missing; the cross-section needs all "
            f"{shards} shards, each once",
        )


def write_sample_xsec(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    sample: str,
    shards: int,
) -> dict[str, Any]:
    """Read the metadata of a sample's shard files and write the combined ``xsec.json``.

    The inputs must be exactly the shards 0..shards-1 of ``sample`` (:func:`check_shard_set`),
    checked before anything is written.
    """
    check_output_path(output)
    metadata = [(Path(path), read_event_metadata(path)) for path in inputs]
    check_shard_set(metadata, sample, shards)
    xsec = combine_shards([shard for _, shard in metadata])
    write_json_atomic(output, xsec)
    return xsec
