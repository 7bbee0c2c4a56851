"""Calorimeter towers: deposits by position, summed per tower, smeared and thresholded.

As Delphes' SimpleCalorimeter (one instance for the ECal, one for the HCal): a particle leaves
its energy fraction (by particle type) in the tower that contains the point where it reaches the
calorimeter surface; each tower's summed energy E is drawn from a log-normal with mean E and
width sigma(E) = sqrt((c E)^2 + s^2 E + n^2) at the tower centre's |eta|; towers below the energy
threshold or below ``significance_min`` sigma are dropped; each surviving tower is placed at a
random (eta, phi) inside its edges. Everything is computed for all events of a batch at once:
one sort of the (event, tower) keys replaces Delphes' per-event hit loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hepdl.detector.rng import CounterRNG

__all__ = [
    "Calorimeter",
    "EnergyFractions",
    "EnergyResolution",
    "TowerDeposits",
    "TowerGrid",
    "Towers",
    "smear_towers",
    "sum_deposits",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class TowerGrid:
    """The towers of one calorimeter: eta rings, each split into equal phi bins over [-pi, pi].

    Ring k spans ``ring_low[k] < eta <= ring_high[k]``; rings are sorted and do not overlap
    (gaps are allowed: nothing is measured there). Towers are numbered ring by ring.

    Attributes:
        ring_low: Lower eta edge of each ring.
        ring_high: Upper eta edge of each ring.
        ring_n_phi: Number of phi bins of each ring.
        ring_first: Number of the first tower of each ring.
    """

    ring_low: FloatArray
    ring_high: FloatArray
    ring_n_phi: IntArray
    ring_first: IntArray

    @classmethod
    def from_rings(cls, low: FloatArray, high: FloatArray, n_phi: IntArray) -> TowerGrid:
        """Build from ring edges and phi bin counts (sorted, not overlapping)."""
        n_phi = np.asarray(n_phi, dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(n_phi)[:-1]]).astype(np.int64)
        return cls(np.asarray(low, float), np.asarray(high, float), n_phi, first)

    @property
    def n_towers(self) -> int:
        """Number of towers."""
        return int(self.ring_first[-1] + self.ring_n_phi[-1])

    def locate(self, eta: FloatArray, phi: FloatArray) -> IntArray:
        """Number of the tower containing each (eta, phi); -1 outside every ring."""
        n_rings = self.ring_low.size
        ring = np.searchsorted(self.ring_high, eta, side="left")
        ring_c = np.minimum(ring, n_rings - 1)
        inside = (ring < n_rings) & (eta > self.ring_low[ring_c])
        n_phi = self.ring_n_phi[ring_c]
        phi_bin = np.floor((phi + np.pi) * (n_phi / _TWO_PI)).astype(np.int64)
        phi_bin = np.clip(phi_bin, 0, n_phi - 1)
        return np.where(inside, self.ring_first[ring_c] + phi_bin, -1)

    def edges(self, tower: IntArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Edges (eta low, eta high, phi low, phi high) of the given towers."""
        ring = np.searchsorted(self.ring_first, tower, side="right") - 1
        width = _TWO_PI / self.ring_n_phi[ring]
        phi_low = -np.pi + (tower - self.ring_first[ring]) * width
        return self.ring_low[ring], self.ring_high[ring], phi_low, phi_low + width

    def centres_abs_eta(self) -> FloatArray:
        """|eta| of every ring's centre (for checking a card's resolution coverage)."""
        return np.abs(0.5 * (self.ring_low + self.ring_high))


@dataclass(frozen=True)
class EnergyResolution:
    """sigma(E) = sqrt((constant E)^2 + stochastic^2 E + noise^2) in |eta| bins.

    Bin k covers ``abs_eta_low[k] <= |eta| <= abs_eta_high[k]`` (a shared edge belongs to the
    lower bin); outside every bin sigma is 0, as a Delphes formula that evaluates to 0.

    Attributes:
        abs_eta_low: Lower |eta| edge of each bin (sorted).
        abs_eta_high: Upper |eta| edge of each bin.
        constant: Constant term (fraction of E).
        stochastic: Stochastic term in sqrt(GeV).
        noise: Noise term in GeV.
    """

    abs_eta_low: FloatArray
    abs_eta_high: FloatArray
    constant: FloatArray
    stochastic: FloatArray
    noise: FloatArray

    def bin_of(self, abs_eta: FloatArray) -> tuple[IntArray, NDArray[np.bool_]]:
        """Bin index of each |eta| and whether it lies inside a bin."""
        n_bins = self.abs_eta_low.size
        index = np.searchsorted(self.abs_eta_high, abs_eta, side="left")
        index_c = np.minimum(index, n_bins - 1)
        return index_c, (index < n_bins) & (abs_eta >= self.abs_eta_low[index_c])

    def sigma(self, abs_eta: FloatArray, energy: FloatArray) -> FloatArray:
        """Energy resolution sigma(E) in GeV at |eta| for energies E in GeV."""
        index, inside = self.bin_of(abs_eta)
        variance = (
            (self.constant[index] * energy) ** 2
            + self.stochastic[index] ** 2 * energy
            + self.noise[index] ** 2
        )
        return np.where(inside, np.sqrt(np.maximum(variance, 0.0)), 0.0)


@dataclass(frozen=True)
class EnergyFractions:
    """Fractions of a particle's energy seen by the ECal and the HCal, by |PDG id|.

    Attributes:
        pids: Sorted |PDG id| with their own fractions.
        ecal: ECal fraction of each of ``pids``.
        hcal: HCal fraction of each of ``pids``.
        default_ecal: ECal fraction of any other particle.
        default_hcal: HCal fraction of any other particle.
    """

    pids: IntArray
    ecal: FloatArray
    hcal: FloatArray
    default_ecal: float
    default_hcal: float

    def __call__(self, pid: NDArray[np.integer]) -> tuple[FloatArray, FloatArray]:
        """(ECal fraction, HCal fraction) of each particle."""
        abs_pid = np.abs(pid.astype(np.int64))
        position = np.minimum(np.searchsorted(self.pids, abs_pid), self.pids.size - 1)
        known = self.pids[position] == abs_pid
        return (
            np.where(known, self.ecal[position], self.default_ecal),
            np.where(known, self.hcal[position], self.default_hcal),
        )


@dataclass(frozen=True)
class Calorimeter:
    """One calorimeter of the card (``calorimeters.ecal`` or ``calorimeters.hcal``).

    Attributes:
        name: ``ecal`` or ``hcal``; also names its random streams.
        grid: The towers.
        resolution: Energy resolution.
        energy_min_gev: Towers below this smeared energy (GeV) are dropped.
        significance_min: Towers below this many sigma are dropped.
        smear_tower_center: Place towers at a random point inside their edges.
    """

    name: str
    grid: TowerGrid
    resolution: EnergyResolution
    energy_min_gev: float
    significance_min: float
    smear_tower_center: bool = True


@dataclass(frozen=True)
class Towers:
    """The towers of one calorimeter for a batch of events, sorted by (event, tower).

    Attributes:
        event: Index of the event in the batch.
        tower: Tower number in the calorimeter's grid.
        true_energy: Summed deposit before smearing, in GeV.
        energy: Measured energy in GeV.
        eta: Reported eta (random inside the tower, or its centre).
        phi: Reported phi.
    """

    event: IntArray
    tower: IntArray
    true_energy: FloatArray
    energy: FloatArray
    eta: FloatArray
    phi: FloatArray


@dataclass(frozen=True)
class TowerDeposits:
    """Summed true deposits of one calorimeter for a batch, sorted by (event, tower).

    Attributes:
        event: Index of the event in the batch.
        tower: Tower number in the calorimeter's grid.
        energy: Summed deposited energy in GeV (before smearing).
    """

    event: IntArray
    tower: IntArray
    energy: FloatArray


def sum_deposits(
    grid: TowerGrid, event: IntArray, eta: FloatArray, phi: FloatArray, deposit: FloatArray
) -> TowerDeposits:
    """Sum deposits per (event, tower) over a batch of events.

    Args:
        grid: The calorimeter's towers.
        event: Index in the batch of the event of each deposit (flat).
        eta: Eta of each deposit's position on the calorimeter surface.
        phi: Phi of each deposit's position.
        deposit: Energy of each deposit in GeV (particle energy x the calorimeter's fraction).
    """
    tower = grid.locate(eta, phi)
    keep = (tower >= 0) & (deposit > 0.0)
    n_towers = np.int64(grid.n_towers)
    key = event[keep] * n_towers + tower[keep]
    unique, inverse = np.unique(key, return_inverse=True)
    energy = np.bincount(inverse, weights=deposit[keep], minlength=unique.size).astype(np.float64)
    return TowerDeposits(event=unique // n_towers, tower=unique % n_towers, energy=energy)


def smear_towers(
    calorimeter: Calorimeter, deposits: TowerDeposits, event_number: IntArray, rng: CounterRNG
) -> Towers:
    """Smear the summed deposits, apply the thresholds and place the towers.

    Args:
        calorimeter: The calorimeter of the card.
        deposits: Its summed deposits (:func:`sum_deposits`).
        event_number: Event number of each event of the batch (keys the random numbers).
        rng: The detector's random numbers.

    Returns:
        The towers that pass the energy and significance thresholds.
    """
    towers, true_energy = deposits.tower, deposits.energy
    eta_low, eta_high, phi_low, phi_high = calorimeter.grid.edges(towers)
    abs_eta_centre = np.abs(0.5 * (eta_low + eta_high))
    numbers = event_number[deposits.event]
    resolution = calorimeter.resolution
    sigma = resolution.sigma(abs_eta_centre, true_energy)
    energy = rng.lognormal(f"{calorimeter.name}/energy", numbers, towers, true_energy, sigma)
    sigma_measured = resolution.sigma(abs_eta_centre, energy)
    keep = (
        (energy > 0.0)
        & (energy >= calorimeter.energy_min_gev)
        & (energy >= calorimeter.significance_min * sigma_measured)
    )
    numbers, towers = numbers[keep], towers[keep]
    eta_low, eta_high = eta_low[keep], eta_high[keep]
    phi_low, phi_high = phi_low[keep], phi_high[keep]
    if calorimeter.smear_tower_center:
        u_eta = rng.uniform(f"{calorimeter.name}/eta", numbers, towers)
        u_phi = rng.uniform(f"{calorimeter.name}/phi", numbers, towers)
        eta = eta_low + u_eta * (eta_high - eta_low)
        phi = phi_low + u_phi * (phi_high - phi_low)
    else:
        eta, phi = 0.5 * (eta_low + eta_high), 0.5 * (phi_low + phi_high)
    return Towers(
        event=deposits.event[keep],
        tower=towers,
        true_energy=true_energy[keep],
        energy=energy[keep],
        eta=eta,
        phi=phi,
    )
