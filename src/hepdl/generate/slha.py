"""A minimal SLHA spectrum for the RPV gluino-pair signal.

Pythia switches SUSY processes on only with an SLHA spectrum. This one holds what the signal
needs and nothing more: every squark, slepton, chargino and heavier neutralino decoupled at
several TeV (so the gluino decays through off-shell squarks), the gluino and the lightest
neutralino at the chosen masses, and the decay tables

* gluino -> neutralino q q~ (q = u, d, s, c, equal branching ratios), and
* neutralino -> u d s or u~ d~ s~ (the RPV coupling lambda''_112 of the ATLAS search).

Pythia warns about the blocks a spectrum calculator would add (MINPAR, GAUGE, NMIX, ...) and
initialises.
"""

from __future__ import annotations

__all__ = ["DECOUPLED_MASS_GEV", "rpv_gluino_slha"]

#: Mass (GeV) of every sparticle that does not take part in the signal.
DECOUPLED_MASS_GEV = 5000.0

_SQUARKS = tuple(generation * 1000000 + flavour for generation in (1, 2) for flavour in range(1, 7))
_SLEPTONS = (1000011, 1000012, 1000013, 1000014, 1000015, 1000016, 2000011, 2000013, 2000015)
_CHARGINOS = (1000024, 1000037)

_SM_INPUTS = (
    (1, 1.27934e02, "alpha_em^-1(M_Z) MSbar"),
    (2, 1.16637e-05, "G_F [GeV^-2]"),
    (3, 1.18000e-01, "alpha_s(M_Z) MSbar"),
    (4, 9.11876e01, "M_Z pole mass"),
    (5, 4.18000e00, "m_b(m_b) MSbar"),
    (6, 1.73200e02, "m_top pole mass"),
    (7, 1.77686e00, "m_tau pole mass"),
)

#: Total widths (GeV): prompt decays, far below any detector resolution.
_GLUINO_WIDTH_GEV = 1.0e-2
_NEUTRALINO_WIDTH_GEV = 1.0e-2


def rpv_gluino_slha(m_gluino_gev: float, m_neutralino_gev: float) -> str:
    """The SLHA spectrum text for one (gluino, neutralino) mass point.

    Args:
        m_gluino_gev: Gluino mass in GeV.
        m_neutralino_gev: Lightest-neutralino mass in GeV, below the gluino mass.

    Returns:
        The file content, ready for Pythia's ``SLHA:file``.

    Raises:
        ValueError: if the masses are not positive or the neutralino is not lighter.
    """
    if not 0 < m_neutralino_gev < m_gluino_gev:
        msg = (
            f"need 0 < m_neutralino < m_gluino, got m_gluino = {m_gluino_gev} GeV and "
            f"m_neutralino = {m_neutralino_gev} GeV"
        )
        raise ValueError(msg)
    heavy = DECOUPLED_MASS_GEV
    lines = [
        "# hepdl: minimal RPV SUSY spectrum (gluino pair -> qq~ neutralino -> qqq)",
        "BLOCK MODSEL",
        "    1    0   # general MSSM; decays are given explicitly below",
        "BLOCK SMINPUTS",
        *(f"    {index}   {value:.5e}   # {comment}" for index, value, comment in _SM_INPUTS),
        "BLOCK MASS",
        f"        25   {125.0:.6e}   # h0",
        *(f"   {pid}   {heavy:.6e}   # decoupled squark" for pid in _SQUARKS),
        *(f"   {pid}   {heavy:.6e}   # decoupled slepton" for pid in _SLEPTONS),
        *(f"   {pid}   {heavy:.6e}   # decoupled chargino" for pid in _CHARGINOS),
        f"   1000021   {m_gluino_gev:.6e}   # gluino",
        f"   1000022   {m_neutralino_gev:.6e}   # lightest neutralino",
        # Heavier neutralinos mass-ordered so that Pythia's spectrum check passes.
        f"   1000023   {heavy:.6e}   # neutralino 2",
        f"   1000025   {heavy + 100.0:.6e}   # neutralino 3",
        f"   1000035   {heavy + 200.0:.6e}   # neutralino 4",
        f"DECAY   1000021   {_GLUINO_WIDTH_GEV:.6e}   # gluino -> neutralino q q~",
        *(f"   2.500000e-01   3   1000022   {q}   {-q}" for q in (1, 2, 3, 4)),
        f"DECAY   1000022   {_NEUTRALINO_WIDTH_GEV:.6e}   # neutralino -> u d s (RPV lambda''_112)",
        "   5.000000e-01   3   2   1   3",
        "   5.000000e-01   3   -2   -1   -3",
    ]
    return "\n".join(lines) + "\n"
