"""The minimal SLHA spectrum of the RPV gluino signal."""

from __future__ import annotations

import re

import pytest

from hepdl.generate.slha import DECOUPLED_MASS_GEV, rpv_gluino_slha


def blocks(text: str) -> dict[str, list[list[str]]]:
    """SLHA text as {block or 'DECAY pid': rows of fields}, comments stripped."""
    parsed: dict[str, list[list[str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if fields[0].upper() == "BLOCK":
            current = fields[1].upper()
            parsed[current] = []
        elif fields[0].upper() == "DECAY":
            current = f"DECAY {fields[1]}"
            parsed[current] = [fields[2:]]
        else:
            parsed[current].append(fields)
    return parsed


def test_masses_and_decoupled_spectrum() -> None:
    spectrum = blocks(rpv_gluino_slha(1600, 450))
    masses = {int(pid): float(mass) for pid, mass in spectrum["MASS"]}
    assert masses[1000021] == 1600
    assert masses[1000022] == 450
    squarks = [pid for pid in masses if pid % 1000000 in range(1, 7)]
    assert len(squarks) == 12
    assert all(masses[pid] == DECOUPLED_MASS_GEV for pid in squarks)


def test_decay_tables_are_rpv_and_normalised() -> None:
    spectrum = blocks(rpv_gluino_slha(1400, 850))
    gluino = spectrum["DECAY 1000021"][1:]
    neutralino = spectrum["DECAY 1000022"][1:]
    assert sum(float(row[0]) for row in gluino) == pytest.approx(1.0)
    assert sum(float(row[0]) for row in neutralino) == pytest.approx(1.0)
    for row in gluino:
        _, n_daughters, lsp, quark, antiquark = row
        assert (n_daughters, lsp) == ("3", "1000022")
        assert int(quark) == -int(antiquark)
    # Majorana neutralino: both charge conjugates of u d s, each charge neutral.
    assert sorted(tuple(sorted(map(int, row[2:]))) for row in neutralino) == [
        (-3, -2, -1),
        (1, 2, 3),
    ]


@pytest.mark.parametrize(("gluino", "neutralino"), [(1400, 1400), (1400, 1500), (1400, 0)])
def test_unphysical_masses_are_refused(gluino: float, neutralino: float) -> None:
    with pytest.raises(ValueError, match="m_neutralino < m_gluino"):
        rpv_gluino_slha(gluino, neutralino)


def test_format_is_parsable_numbers() -> None:
    text = rpv_gluino_slha(1800, 850)
    assert re.search(r"^\s+1000021\s+1\.800000e\+03", text, flags=re.MULTILINE)
