"""Physics observables of whole-detector images, the GAN validation's yardstick.

Each pixel above ``gan.pixel_threshold_gev`` becomes a massless pseudo-particle at the pixel
centre with E the pixel's calorimeter energy and pT = E / cosh(eta); anti-kt jets (R =
``detector.fatjet.radius``, 1.0) are clustered with FastJet's multi-event interface (the
detector simulation's :func:`hepdl.jets.cluster_jets`) and kept with
pT > ``selection.jet_pt_min_gev`` (200 GeV) and |eta| < ``selection.jet_abs_eta_max`` (2.0), the
large-R jets of the analysis. Per event: the jet multiplicity, the summed mass of the
(up to ``selection.mj_n_jets``) leading jets, the leading jet's pT, eta and phi, and the total
energy (of the pixels above threshold); per pixel: the energy spectrum of those pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from hepdl.config import result_settings
from hepdl.gan.settings import IMAGE_JET_FIELDS
from hepdl.images.histogram import ImageSpec
from hepdl.jets import cluster_jets, jet_record, massless_four_vectors

__all__ = ["EVENT_OBSERVABLES", "ImageJets", "image_observables"]

#: Per-event observables (``jet1_*`` only for events with a jet).
EVENT_OBSERVABLES = (
    "n_jet",
    "mj_gev",
    "jet1_pt_gev",
    "jet1_eta",
    "jet1_phi",
    "total_energy_gev",
)


@dataclass(frozen=True)
class ImageJets:
    """Jet clustering settings on images.

    Attributes:
        spec: Image geometry (pixel centres).
        radius: Anti-kt R.
        pt_min_gev: Jet pT threshold (GeV).
        abs_eta_max: Jet |eta| bound.
        mj_n_jets: Leading jets summed into M_J.
        pixel_threshold_gev: Pixels below this energy are not clustered (GeV).
    """

    spec: ImageSpec
    radius: float = 1.0
    pt_min_gev: float = 200.0
    abs_eta_max: float = 2.0
    mj_n_jets: int = 4
    pixel_threshold_gev: float = 0.5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImageJets:
        """From a validated config: the images' geometry and the settings of
        :data:`hepdl.gan.settings.IMAGE_JET_FIELDS`."""
        fields = {field: result_settings(config, key) for field, key in IMAGE_JET_FIELDS.items()}
        return cls(spec=ImageSpec.from_config(config), **fields)


def image_observables(
    energy: NDArray[np.floating], jets: ImageJets
) -> dict[str, NDArray[np.float64]]:
    """Per-event jet observables and the filled-pixel spectrum of calorimeter images.

    Args:
        energy: (N, n_eta, n_phi) calorimeter energy per pixel (GeV).
        jets: Clustering settings.

    Returns:
        The :data:`EVENT_OBSERVABLES` (length N; ``jet1_*`` NaN without a jet),
        ``pixel_energy_gev`` (the filled pixels' energies) and ``pixel_event`` (their event).
    """
    energy_gev: NDArray[np.float64] = np.asarray(energy, dtype=np.float64)
    n_events, n_eta, n_phi = energy_gev.shape
    if (n_eta, n_phi) != (jets.spec.n_eta, jets.spec.n_phi):
        msg = f"images are {n_eta} x {n_phi}, the geometry is {jets.spec.n_eta} x {jets.spec.n_phi}"
        raise ValueError(msg)
    eta = np.broadcast_to(jets.spec.eta_centres[:, None], (n_eta, n_phi))
    phi = np.broadcast_to(jets.spec.phi_centres[None, :], (n_eta, n_phi))
    filled = energy_gev > jets.pixel_threshold_gev
    event, row, column = np.nonzero(filled)
    values = energy_gev[event, row, column]
    counts = np.bincount(event, minlength=n_events).astype(np.int64)
    particles = massless_four_vectors(values, eta[row, column], phi[row, column], counts)
    record = jet_record(cluster_jets(particles, jets.radius, jets.pt_min_gev), jets.pt_min_gev)
    record = record[abs(record.Eta) < jets.abs_eta_max]
    n_jet = np.asarray(ak.num(record, axis=1), dtype=np.float64)
    mass = ak.values_astype(record.Mass[:, : jets.mj_n_jets], np.float64)
    leading = ak.firsts(record)

    def first(field: str) -> NDArray[np.float64]:
        return np.asarray(ak.fill_none(leading[field], np.nan), dtype=np.float64)

    return {
        "n_jet": n_jet,
        "mj_gev": np.asarray(ak.sum(mass, axis=1), dtype=np.float64),
        "jet1_pt_gev": first("PT") if n_events else np.zeros(0),
        "jet1_eta": first("Eta") if n_events else np.zeros(0),
        "jet1_phi": first("Phi") if n_events else np.zeros(0),
        "total_energy_gev": np.where(filled, energy_gev, 0.0).sum(axis=(1, 2)),
        "pixel_energy_gev": values,
        "pixel_event": event.astype(np.int64),
    }
