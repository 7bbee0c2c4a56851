"""Propagation of particles from the interaction point to the calorimeter surface.

As Delphes' ParticlePropagator: neutral particles fly straight, charged particles follow a helix
in the uniform field B along the beam axis, until they leave the cylinder of the solenoid
(radius R, half-length L) through its side (the barrel) or an end cap. Where they leave it is
where they reach the calorimeters. All particles start at the origin (the generator's vertex),
so the helix passes through the beam axis and its geometry has closed forms:

- transverse radius r = pT / (0.2998 |q| B)  (r in m, pT in GeV, B in T);
- after turning by an angle a, the particle is at transverse distance 2 r sin(a/2) along the
  direction phi0 - s a/2 (s = sign(q B): positive charges turn clockwise in a field along +z),
  and has moved z = (pz / pT) r a along the beam;
- it reaches the barrel when 2 r >= R, after turning a_R = 2 arcsin(R / (2 r)).

A particle that cannot reach the barrel leaves through an end cap, unless it does not move
along the beam at all (pz = 0): such loopers never reach the calorimeter and are dropped, as are
those that would turn more than the card's ``solenoid.max_turns`` on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["GEV_PER_TESLA_METRE", "Solenoid", "SurfaceHits", "propagate"]

#: pT (GeV) of a unit charge on a circle of radius 1 m in a field of 1 T: c x 1e-9.
GEV_PER_TESLA_METRE = 0.299792458

#: Delphes skips particles with pT^2 below this (GeV^2): they never leave the beam line.
_MIN_PT2_GEV2 = 1.0e-9

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Solenoid:
    """The magnetic-field volume (card key ``solenoid``).

    Attributes:
        radius_m: Radius of the cylinder in m (where the barrel calorimeter starts).
        half_length_m: Half-length along the beam in m (where the end caps start).
        bz_tesla: Field along the beam axis in T.
        max_turns: Loopers turning more than this before an end cap are dropped (None: never).
    """

    radius_m: float
    half_length_m: float
    bz_tesla: float
    max_turns: float | None = None


@dataclass(frozen=True)
class SurfaceHits:
    """Where each particle reaches the calorimeter surface (flat arrays, one entry per particle).

    Attributes:
        reached: True where the particle reaches the surface; the other fields are 0 elsewhere.
        eta: Pseudorapidity of the hit point seen from the origin.
        phi: Azimuth of the hit point in [-pi, pi].
        x_m: Hit point x in m.
        y_m: Hit point y in m.
        z_m: Hit point z in m.
    """

    reached: NDArray[np.bool_]
    eta: FloatArray
    phi: FloatArray
    x_m: FloatArray
    y_m: FloatArray
    z_m: FloatArray


def _straight(
    pt: FloatArray, pz: FloatArray, solenoid: Solenoid
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Transverse distance, z, and turning angle (0) of straight lines at the surface."""
    radius, half_length = solenoid.radius_m, solenoid.half_length_m
    z_barrel = pz * radius / pt
    barrel = np.abs(z_barrel) <= half_length
    abs_pz = np.where(pz == 0.0, 1.0, np.abs(pz))
    rho = np.where(barrel, radius, half_length * pt / abs_pz)
    z = np.where(barrel, z_barrel, np.copysign(half_length, pz))
    return rho, z, np.zeros_like(pt)


def _helix(
    pt: FloatArray, pz: FloatArray, charge: FloatArray, solenoid: Solenoid
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Transverse distance, z, turning angle and reach flag of helices at the surface."""
    radius, half_length = solenoid.radius_m, solenoid.half_length_m
    curvature_radius = pt / (GEV_PER_TESLA_METRE * np.abs(charge * solenoid.bz_tesla))
    reaches_radius = 2.0 * curvature_radius >= radius
    ratio = np.minimum(radius / (2.0 * curvature_radius), 1.0)
    turn_barrel = 2.0 * np.arcsin(ratio)
    z_barrel = pz / pt * curvature_radius * turn_barrel
    barrel = reaches_radius & (np.abs(z_barrel) <= half_length)

    moves_along_beam = pz != 0.0
    abs_pz = np.where(moves_along_beam, np.abs(pz), 1.0)
    turn_endcap = half_length * pt / (abs_pz * curvature_radius)
    rho_endcap = 2.0 * curvature_radius * np.abs(np.sin(0.5 * turn_endcap))
    endcap = ~barrel & moves_along_beam & (rho_endcap > 0.0)
    if solenoid.max_turns is not None:
        endcap &= turn_endcap <= 2.0 * np.pi * solenoid.max_turns

    rho = np.where(barrel, radius, rho_endcap)
    z = np.where(barrel, z_barrel, np.copysign(half_length, pz))
    turn = np.where(barrel, turn_barrel, turn_endcap)
    return rho, z, turn, barrel | endcap


def propagate(
    px: FloatArray, py: FloatArray, pz: FloatArray, charge: NDArray[np.integer], solenoid: Solenoid
) -> SurfaceHits:
    """Propagate particles from the origin to the calorimeter surface.

    Args:
        px: Momentum x-components in GeV (flat, all particles of all events).
        py: Momentum y-components in GeV.
        pz: Momentum z-components in GeV.
        charge: Electric charges in units of e.
        solenoid: The field volume.

    Returns:
        The hit point of every particle, with ``reached`` False for particles that never get
        there (pT ~ 0, or loopers).
    """
    pt = np.hypot(px, py)
    moving = pt * pt >= _MIN_PT2_GEV2
    safe_pt = np.where(moving, pt, 1.0)
    phi0 = np.arctan2(py, px)
    charge_f = charge.astype(np.float64)
    bends = moving & (charge_f != 0.0) & (solenoid.bz_tesla != 0.0)

    rho, z, turn = _straight(safe_pt, pz, solenoid)
    reached = moving.copy()
    if np.any(bends):
        h_rho, h_z, h_turn, h_reached = _helix(safe_pt[bends], pz[bends], charge_f[bends], solenoid)
        rho[bends], z[bends], turn[bends] = h_rho, h_z, h_turn
        reached[bends] = h_reached

    sense = np.sign(charge_f * solenoid.bz_tesla)
    phi = np.mod(phi0 - sense * 0.5 * turn + np.pi, 2.0 * np.pi) - np.pi
    rho = np.where(reached, rho, 1.0)
    eta = np.where(reached, np.arcsinh(z / rho), 0.0)
    zero = np.zeros_like(pt)
    return SurfaceHits(
        reached=reached,
        eta=eta,
        phi=np.where(reached, phi, 0.0),
        x_m=np.where(reached, rho * np.cos(phi), zero),
        y_m=np.where(reached, rho * np.sin(phi), zero),
        z_m=np.where(reached, z, zero),
    )
