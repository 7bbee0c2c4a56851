"""Which GANs a config trains, on which samples and mass points, and their settings (their
files: :class:`hepdl.io.layout.Layout`).

Two kinds: ``gan`` (unconditional, every training sample as one population) and ``cgan``
(conditional on the sample's (m_gluino, m_neutralino)). With ``gan.seeds`` = n each is trained n
times, as ``{kind}``, ``{kind}_seed1`` ... ``{kind}_seed{n-1}`` (the classifiers' replica names,
:func:`hepdl.seeds.replica_names`): the same settings, another seed, each with its own
files; GAN results moved by up to 2.5x between seeds. ``gan.per_kind`` gives one kind training
settings of its own (:func:`kind_config`). Both train on signal samples; their mass
points form the cgan's trained grid. The networks are the 64 x 64 DCGAN of the paper, so the
images must be 64 x 64. No torch import: Snakemake and the config checks use this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

from hepdl.config import result_settings
from hepdl.errors import ConfigError
from hepdl.hpo.space import search_space
from hepdl.models.channels import check_channels
from hepdl.seeds import model_seed, replica_names

__all__ = [
    "GAN_KINDS",
    "IMAGE_JET_FIELDS",
    "IMAGE_JET_KEYS",
    "IMAGE_SIZE",
    "SPEED_KEYS",
    "gan_kind",
    "gan_models",
    "gan_samples",
    "gan_training_settings",
    "is_conditional",
    "kind_config",
    "mass_grid",
    "plot_names",
]

#: The GAN models and whether each is conditional on the masses.
GAN_KINDS = {"gan": False, "cgan": True}

#: Pixels along eta and phi of the DCGAN's images (4 -> 8 -> 16 -> 32 -> 64).
IMAGE_SIZE = 64


#: ``gan`` keys of the speed table (gan-speed): what it times and how often, not what a GAN
#: learns; the ``gan_speed`` rule's params, so that a change retimes the table only.
SPEED_KEYS = ("speed_events", "speed_images", "speed_repeat")

#: ``gan`` keys of the generate, validate and speed stages: a trained GAN does not depend on
#: them.
LATER_STAGE_KEYS = (
    "interpolate",
    "generate_events",
    *SPEED_KEYS,
    "validation_events",
    "floor_splits",
    "flag_ratio",
)

#: ``gan`` keys every GAN of a config shares, so that ``gan.per_kind`` cannot set them: which
#: GANs are trained and on what, and the jets the validation counts on every GAN's images.
SHARED_KEYS = (
    "models",
    "seeds",
    "per_kind",
    "samples",
    "channels",
    "pixel_threshold_gev",
    *LATER_STAGE_KEYS,
)

#: The config settings, by dotted name, of the fields of the jets counted on the images
#: (:class:`hepdl.gan.observables.ImageJets`), besides their geometry.
IMAGE_JET_FIELDS = {
    "pt_min_gev": "selection.jet_pt_min_gev",
    "abs_eta_max": "selection.jet_abs_eta_max",
    "mj_n_jets": "selection.mj_n_jets",
    "radius": "detector.fatjet.radius",
    "pixel_threshold_gev": "gan.pixel_threshold_gev",
}

#: Every config setting that defines the jets the epoch selection, the validation and
#: ``gan.jet_summary`` count on a GAN's images, by dotted name: :data:`IMAGE_JET_FIELDS` and
#: the images' eta range (their pixels are :data:`IMAGE_SIZE` for every GAN).
IMAGE_JET_KEYS = (*IMAGE_JET_FIELDS.values(), "images.eta_max")

#: ``train`` keys the GANs' Trainer reads that change its result (one device: no devices,
#: num_nodes, strategy nor lr_scaling).
GAN_TRAINER_KEYS = ("accelerator", "precision", "deterministic")


def gan_kind(name: str) -> str:
    """The kind (``gan`` or ``cgan``) of GAN ``name``, a kind or one of its seed replicas.

    Raises:
        ConfigError: naming ``gan.models`` for an unknown name.
    """
    kind, _, replica = name.partition("_seed")
    if kind not in GAN_KINDS or (replica and not (replica.isdigit() and int(replica) > 0)):
        raise ConfigError(
            "gan.models",
            f"unknown GAN {name!r}; expected one of {list(GAN_KINDS)} or a seed replica "
            "such as cgan_seed1",
        )
    return kind


def is_conditional(name: str) -> bool:
    """Whether GAN ``name`` (a kind or a seed replica) is conditioned on the masses.

    Raises:
        ConfigError: naming ``gan.models`` for an unknown name.
    """
    return GAN_KINDS[gan_kind(name)]


def kind_config(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``config`` as GAN ``name`` (a kind or a seed replica) trains with it: its ``gan`` block
    with the kind's ``gan.per_kind`` settings in place of the block's. Every reader of a GAN's
    training settings goes through this, so a setting means the same in the training, its
    rerun check and its hyper-parameters; applying it twice changes nothing.

    Raises:
        ConfigError: naming ``gan.models`` for an unknown name.
    """
    gan = config["gan"]
    own = gan.get("per_kind", {}).get(gan_kind(name), {})
    return {**config, "gan": {**gan, **own}}


def check_per_kind(
    config: Mapping[str, Any], schema: Mapping[str, Any], source: str = "config"
) -> None:
    """Check ``gan.per_kind``: only the keys a kind may set (not :data:`SHARED_KEYS`), each
    kind's whole block valid against ``schema`` (the config schema the caller validated the
    rest with), and no key the GAN search varies.

    Raises:
        ConfigError: naming ``gan.per_kind.{kind}.{key}``, the value and what was expected.
    """
    gan_schema = schema["properties"]["gan"]
    searched = (
        {parameter.name for parameter in search_space(config, "gan", schema, source)}
        if "gan" in config["hpo"]["studies"]
        else set()
    )
    for kind, own in config["gan"]["per_kind"].items():
        for key in own:
            prefix = f"gan.per_kind.{kind}.{key}"
            if key not in gan_schema["properties"]:
                raise ConfigError(prefix, f"{key!r} is not a key of the gan block", source)
            if key in SHARED_KEYS:
                raise ConfigError(
                    prefix,
                    f"{key} is shared by every GAN (set gan.{key} instead); a kind may set "
                    "only its own training settings",
                    source,
                )
            if key in searched and config["hpo"]["gan"]["model"] == kind:
                raise ConfigError(
                    prefix,
                    f"hpo.gan.space searches gan.{key} for the {kind}, and the kind's own value "
                    "would replace every trial's: remove it from one of them",
                    source,
                )
        block = kind_config(config, kind)["gan"]
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(gan_schema).iter_errors(block)
        )
        if error is not None:
            path = ".".join(str(part) for part in error.absolute_path)
            raise ConfigError(f"gan.per_kind.{kind}.{path}", error.message, source)


def gan_samples(config: Mapping[str, Any]) -> list[str]:
    """The samples the GANs train on: ``gan.samples`` or every rpv_gluino sample without pile-up.

    Raises:
        ConfigError: naming ``gan.samples`` for an unknown or non-signal sample, or none at all.
    """
    samples = config["samples"]
    names = config["gan"]["samples"]
    if names is None:
        names = [
            name
            for name, spec in samples.items()
            if spec["process"] == "rpv_gluino" and spec.get("pileup_mu", 0.0) == 0.0
        ]
    for name in names:
        if name not in samples:
            raise ConfigError("gan.samples", f"{name!r} is not a sample of this config")
        if samples[name]["process"] != "rpv_gluino":
            raise ConfigError(
                "gan.samples",
                f"{name!r} is a {samples[name]['process']} sample; the GANs learn the signal "
                "(process rpv_gluino), whose masses condition the cgan",
            )
    if not names:
        raise ConfigError("gan.samples", "no signal (rpv_gluino) sample to train the GANs on")
    return sorted(names)


def mass_grid(config: Mapping[str, Any], samples: Sequence[str] | None = None) -> list[list[float]]:
    """The trained (m_gluino, m_neutralino) points in GeV, sorted, each once."""
    specs = config["samples"]
    points = {
        (float(specs[name]["m_gluino_gev"]), float(specs[name]["m_neutralino_gev"]))
        for name in (samples if samples is not None else gan_samples(config))
    }
    return [list(point) for point in sorted(points)]


def gan_models(config: Mapping[str, Any]) -> list[str]:
    """The GANs the config trains (``gan.models``, each with its ``gan.seeds`` replicas),
    checked against the images and samples.

    Raises:
        ConfigError: if the images are not 64 x 64, a channel is unknown, or the samples are
            unusable (see :func:`gan_samples`).
    """
    names = list(config["gan"]["models"])
    if not names:
        return []
    images = config["images"]
    for key in ("n_eta", "n_phi"):
        if images[key] != IMAGE_SIZE:
            raise ConfigError(
                f"images.{key}",
                f"the GANs (gan.models: {names}) generate {IMAGE_SIZE} x {IMAGE_SIZE} images, "
                f"but images.{key} is {images[key]}; set images.n_eta and images.n_phi to "
                f"{IMAGE_SIZE} or gan.models to []",
            )
    check_channels(config["gan"]["channels"], key="gan.channels")
    for name in names:
        is_conditional(name)
    gan_samples(config)
    return [replica for name in names for replica in replica_names(name, config["gan"]["seeds"])]


#: Observables compared by the validation, each plotted as ``plots/{name}``.
OBSERVABLE_PLOTS = (
    "n_jet",
    "mj_gev",
    "jet1_pt_gev",
    "jet1_eta",
    "jet1_phi",
    "total_energy_gev",
    "pixel_energy_gev",
    "mean_image",
)


def plot_names(name: str) -> list[str]:
    """Plot names (without folder and suffix) that ``validate-gan`` writes for GAN ``name``."""
    names = list(OBSERVABLE_PLOTS)
    if is_conditional(name):
        names += ["mj_per_mass", "mj_shift"]
    return names


def gan_training_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Every setting the training of GAN ``name`` depends on, besides its input files.

    The ``gan`` block as the GAN's kind sets it (:func:`kind_config`), without the keys of the
    later stages and without those that change no result
    (:func:`hepdl.config.result_settings`), the Trainer's ``train`` keys, the jets' definition
    (:data:`IMAGE_JET_KEYS`) and the GAN's seed, by dotted config name. The ``train_gan``
    rule's params and the resume check use it.
    """
    gan = result_settings(kind_config(config, name), "gan")
    train = result_settings(config, "train")
    return {
        # per_kind is merged in: another kind's settings do not retrain this one
        **{
            f"gan.{key}": value
            for key, value in gan.items()
            if key not in (*LATER_STAGE_KEYS, "per_kind")
        },
        **{f"train.{key}": train[key] for key in GAN_TRAINER_KEYS},
        **{key: result_settings(config, key) for key in IMAGE_JET_KEYS},
        "seed": model_seed(config, name),
    }
