"""HepMC3 export of generator-level events, the input of the real Delphes backend.

Each event becomes the two beam protons (status 4) joined at one vertex at the origin to the
final-state particles (status 1), in GeV and mm, with the event number and generator weight
of the event file: the HepMC3 ASCII format (``Asciiv3``) as HepMC3's own writer lays it out,
numbers printed as C's ``%.16e``.

The text is made by numpy for all particles of a batch at once: every
number becomes a fixed-width row of characters, the padding is masked out, and one boolean
index turns the rows into the file's bytes. Building HepMC3 event objects (``pyhepmc``) and
letting them print themselves took about as long as the whole fast simulation; pyhepmc stays
the reader (:func:`read_hepmc3`), which the tests use to check the writer.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pyhepmc
from numpy.typing import NDArray

from hepdl.errors import InputFileError

__all__ = ["BEAM_PDG_ID", "PROTON_MASS_GEV", "hepmc3_event_blocks", "read_hepmc3", "write_hepmc3"]

#: Beam particles: protons.
BEAM_PDG_ID = 2212
PROTON_MASS_GEV = 0.93827208816
_BEAM_STATUS = 4
_FINAL_STATUS = 1


_HEADER = b"HepMC::Version 3.02.05\nHepMC::Asciiv3-START_EVENT_LISTING\n"
_FOOTER = b"HepMC::Asciiv3-END_EVENT_LISTING\n\n"
#: The one vertex: both beams in, the final-state particles out.
_VERTEX_LINE = b"V -1 0 [1,2]\n"
#: Particles formatted at once (bounds the character matrix: about 300 bytes per particle).
_PARTICLES_PER_BLOCK = 100_000
#: Significant digits after the point, as HepMC3's writer (``%.16e``).
_DIGITS = 16
#: The characters of 0000 ... 9999: numbers are printed four digits per table look-up.
_FOUR_DIGITS = np.frombuffer(
    "".join(f"{number:04d}" for number in range(10_000)).encode("ascii"), dtype=np.uint8
).reshape(10_000, 4)
#: The same, each entry's four characters as one 32-bit word (in memory order).
_FOUR_DIGIT_WORDS = _FOUR_DIGITS.view(np.uint32).ravel()
_GROUP = np.int32(10_000)
_EIGHT_DIGITS = np.int64(100_000_000)
_MINUS, _PLUS, _POINT, _SPACE, _ZERO = (ord(c) for c in "-+. 0")
_INT_WIDTH = 12  # sign + 11 digits: PDG ids have at most 10
#: Width of a float field: sign, 17 digits, point, "e", exponent sign, 3 exponent digits.
_FLOAT_WIDTH = _DIGITS + 8


#: Field markers of a line layout (:class:`_Lines`): an integer, a double.
_INT, _FLOAT = object(), object()


def _field_template(item: object) -> tuple[list[int], list[bool]]:
    """A field's characters and which are kept, before its values are written."""
    if item is _INT:
        return [_SPACE] * _INT_WIDTH, [False] * _INT_WIDTH
    if item is _FLOAT:  # sign, d, ".", 16 digits, "e", exponent sign, 3 digits
        chars = [_MINUS, _ZERO, _POINT, *[_ZERO] * _DIGITS, ord("e"), _PLUS, *[_ZERO] * 3]
        keep = [False, *[True] * (_FLOAT_WIDTH - 1)]
        keep[-3] = False  # an exponent's hundreds digit only where it is one
        return chars, keep
    text = str(item).encode("ascii")
    return list(text), [True] * len(text)


class _Lines:
    """Rows of characters of equal width laid out as ``layout`` (literal text and the field
    markers :data:`_INT` and :data:`_FLOAT`), filled field by field; masked-out characters
    (padding) are dropped when the rows become lines. The fixed characters are laid down once
    for all rows, from a one-row template."""

    def __init__(self, n: int, layout: list[object]) -> None:
        chars: list[int] = []
        keep: list[bool] = []
        self.fields: list[int] = []
        for item in layout:
            if item is _INT or item is _FLOAT:
                self.fields.append(len(chars))
            field_chars, field_keep = _field_template(item)
            chars += field_chars
            keep += field_keep
        width = len(chars)
        self.chars = np.broadcast_to(np.asarray(chars, dtype=np.uint8), (n, width)).copy()
        self.keep = np.broadcast_to(np.asarray(keep, dtype=bool), (n, width)).copy()

    def _digits(self, magnitude: NDArray[np.int64], groups: int) -> NDArray[np.uint8]:
        """The ``4 * groups`` decimal digits of each magnitude, leading zeros included.

        Split first into 8-digit parts, whose 4-digit groups come from 32-bit divisions
        (several times faster than 64-bit ones); each group's four characters are one 32-bit
        look-up."""
        out = np.empty((magnitude.size, groups), dtype=np.uint32)
        rest = magnitude.copy()
        for high in range(groups - 1, -1, -2):
            part = (rest % _EIGHT_DIGITS).astype(np.int32)
            rest //= _EIGHT_DIGITS
            out[:, high] = _FOUR_DIGIT_WORDS[part % _GROUP]
            if high > 0:
                out[:, high - 1] = _FOUR_DIGIT_WORDS[part // _GROUP]
        return out.view(np.uint8).reshape(magnitude.size, 4 * groups)

    def integers(self, field: int, values: NDArray[np.integer]) -> None:
        """Integers as ``%d`` into field number ``field`` (an :data:`_INT`)."""
        values = np.asarray(values, dtype=np.int64)
        start = self.fields[field]
        end = start + _INT_WIDTH
        digits = self._digits(np.abs(values), -(-(_INT_WIDTH - 1) // 4))[:, -(_INT_WIDTH - 1) :]
        nonzero = digits != _ZERO
        nonzero[:, -1] = True  # zero itself is one digit
        first = np.argmax(nonzero, axis=1)  # the first digit kept; leading zeros masked out
        self.chars[:, start + 1 : end] = digits
        self.keep[:, start + 1 : end] = np.arange(_INT_WIDTH - 1) >= first[:, None]
        rows = np.flatnonzero(values < 0)
        sign = start + first[rows]  # just before the first digit kept
        self.chars[rows, sign] = _MINUS
        self.keep[rows, sign] = True

    def floats(self, field: int, values: NDArray[np.float64]) -> None:
        """Doubles as C's ``%.16e`` (``-1.2345678901234567e+03``) into field number ``field``
        (a :data:`_FLOAT`): 17 significant digits, the mantissa rounded once from the product
        with a power of ten, so the last digit may be off by a few units (1e-16 relative;
        Delphes computes in double and stores float32)."""
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            msg = "HepMC3 export: particle momenta must be finite numbers"
            raise ValueError(msg)
        magnitude = np.abs(values)
        nonzero = magnitude > 0.0
        safe = np.where(nonzero, magnitude, 1.0)
        exponent = _decimal_exponent(safe)
        mantissa = np.rint(safe * _power_of_ten(_DIGITS - exponent)).astype(np.int64)
        # 10**k can be off by an ulp: a mantissa one digit short means the exponent was one
        # too high (and one digit long, one too low, as when 9.99...95 rounds up to 10.0)
        short = mantissa < 10**_DIGITS
        if short.any():
            exponent = exponent - short
            again = np.rint(safe * _power_of_ten(_DIGITS - exponent)).astype(np.int64)
            mantissa = np.where(short, again, mantissa)
        carry = mantissa >= 10 ** (_DIGITS + 1)
        mantissa = np.where(nonzero, np.where(carry, mantissa // 10, mantissa), 0)
        exponent = np.where(nonzero, exponent + carry, 0)
        start = self.fields[field]
        self.keep[:, start] = np.signbit(values)
        digits = self._digits(mantissa, 5)[:, -(_DIGITS + 1) :]
        self.chars[:, start + 1] = digits[:, 0]
        self.chars[:, start + 3 : start + 3 + _DIGITS] = digits[:, 1:]
        tail = start + 3 + _DIGITS
        abs_exponent = np.abs(exponent)
        self.chars[:, tail + 1] = np.where(exponent < 0, _MINUS, _PLUS)
        self.chars[:, tail + 2 : tail + 5] = _FOUR_DIGITS[abs_exponent][:, 1:]
        self.keep[:, tail + 2] = abs_exponent >= 100  # printf: at least two digits

    def text(self) -> tuple[bytes, NDArray[np.int64]]:
        """The lines' bytes and each line's length."""
        return self.chars[self.keep].tobytes(), self.keep.sum(axis=1).astype(np.int64)


def _decimal_exponent(magnitude: NDArray[np.float64]) -> NDArray[np.int64]:
    """floor(log10(x)) of positive x, exact at powers of ten (log10's rounding corrected)."""
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)
    exponent -= magnitude < _power_of_ten(exponent)
    exponent += magnitude >= _power_of_ten(exponent + 1)
    return exponent


#: 10**k, correctly rounded, for |k| <= 308 (a table: numpy's power is ten times slower).
_MAX_POWER = 308
_POWERS_OF_TEN = np.array([float(f"1e{k}") for k in range(-_MAX_POWER, _MAX_POWER + 1)])


def _power_of_ten(exponent: NDArray[np.int64]) -> NDArray[np.float64]:
    """10**exponent; beyond the table (subnormal-scale values only) as a product of two."""
    first = np.clip(exponent, -_MAX_POWER, _MAX_POWER)
    second = np.clip(exponent - first, -_MAX_POWER, _MAX_POWER)
    power: NDArray[np.float64] = (
        _POWERS_OF_TEN[first + _MAX_POWER] * _POWERS_OF_TEN[second + _MAX_POWER]
    )
    return power


def _particle_block(
    code: NDArray[np.int64], pid: NDArray[np.int32], momenta: list[NDArray[np.float64]]
) -> tuple[bytes, NDArray[np.int64]]:
    """``P code -1 pid px py pz E m 1`` lines (final-state particles of the one vertex)."""
    layout: list[object] = ["P ", _INT, " -1 ", _INT]
    for _ in momenta:
        layout += [" ", _FLOAT]
    lines = _Lines(code.size, [*layout, " 1\n"])
    lines.integers(0, code)
    lines.integers(1, pid)
    for field, column in enumerate(momenta, start=2):
        lines.floats(field, column)
    return lines.text()


def _beam_lines(beam_energy_gev: float) -> bytes:
    beam_pz = np.sqrt(beam_energy_gev**2 - PROTON_MASS_GEV**2)
    lines = b""
    for code, pz in ((1, beam_pz), (2, -beam_pz)):
        lines += (
            f"P {code} 0 {BEAM_PDG_ID} {0.0:.16e} {0.0:.16e} {pz:.16e} {beam_energy_gev:.16e} "
            f"{PROTON_MASS_GEV:.16e} {_BEAM_STATUS}\n"
        ).encode("ascii")
    return lines + _VERTEX_LINE


def hepmc3_event_blocks(events: ak.Array, ecm_gev: float) -> list[bytes]:
    """The HepMC3 ASCII text of each event (without the file's header and footer)."""
    particles = events["particles"]
    counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    numbers = ak.to_numpy(events["event_number"]).astype(np.int64)
    weights = ak.to_numpy(events["weight"]).astype(np.float64)

    def column(name: str) -> NDArray[Any]:
        return np.asarray(ak.to_numpy(ak.flatten(particles[name], axis=1)))

    px, py, pz = column("px"), column("py"), column("pz")
    energy = column("E").astype(np.float64)
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    code = np.arange(starts[-1], dtype=np.int64) - np.repeat(starts[:-1], counts) + 3
    pid = column("pid").astype(np.int32)
    # Particle lines in blocks of whole events, then cut per event by the lines' lengths.
    pieces, lengths = [b""], [np.zeros(0, dtype=np.int64)]
    for first, last in _event_blocks(counts):
        part = slice(starts[first], starts[last])
        block, block_lengths = _particle_block(
            code[part],
            pid[part],
            [np.asarray(c[part], dtype=np.float64) for c in (px, py, pz, energy, mass)],
        )
        pieces.append(block)
        lengths.append(block_lengths)
    text, line_lengths = b"".join(pieces), np.concatenate(lengths)
    byte_ends = np.concatenate([[0], np.cumsum(line_lengths)])[starts]
    beams = _beam_lines(0.5 * ecm_gev)
    beams_only = beams.removesuffix(_VERTEX_LINE)
    blocks = []
    for index, (number, weight) in enumerate(zip(numbers.tolist(), weights.tolist(), strict=True)):
        # as HepMC3: an event without final-state particles has no vertex, only its beams
        vertices, beam_lines = (1, beams) if counts[index] else (0, beams_only)
        header = f"E {number} {vertices} {counts[index] + 2}\nU GEV MM\nW {weight:.22e}\n"
        particles_text = text[byte_ends[index] : byte_ends[index + 1]]
        blocks.append(header.encode("ascii") + beam_lines + particles_text)
    return blocks


def _event_blocks(counts: NDArray[np.int64]) -> list[tuple[int, int]]:
    """(first, last) event ranges of about :data:`_PARTICLES_PER_BLOCK` particles each."""
    if counts.size == 0:
        return []
    first_particle = np.concatenate([[0], np.cumsum(counts)[:-1]])
    block = first_particle // _PARTICLES_PER_BLOCK
    edges = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), int(counts.size)]
    return list(itertools.pairwise(edges))


def write_hepmc3(path: str | os.PathLike[str], events: ak.Array, ecm_gev: float) -> Path:
    """Write events of the events-parquet format as a HepMC3 ASCII file.

    Args:
        path: Output file (``.hepmc``).
        events: Events with ``event_number``, ``weight`` and ``particles``.
        ecm_gev: Centre-of-mass energy in GeV (beam energies ecm/2).
    """
    with Path(path).open("wb") as output:
        output.write(_HEADER)
        output.writelines(hepmc3_event_blocks(events, ecm_gev))
        output.write(_FOOTER)
    return Path(path)


def read_hepmc3(path: str | os.PathLike[str]) -> ak.Array:
    """Read back the final-state particles of a HepMC3 file, in the events-parquet layout.

    Returns:
        Events with ``event_number``, ``weight`` and ``particles`` (px, py, pz, E, pid) of the
        status-1 particles.

    Raises:
        InputFileError: naming the file, if it cannot be read.
    """
    numbers, weights, particles = [], [], []
    try:
        with pyhepmc.open(path) as source:
            for event in source:
                record = event.numpy.particles
                final = np.asarray(record.status) == _FINAL_STATUS
                numbers.append(event.event_number)
                weights.append(event.weights[0] if len(event.weights) else 1.0)
                particles.append(
                    {
                        "px": np.asarray(record.px)[final],
                        "py": np.asarray(record.py)[final],
                        "pz": np.asarray(record.pz)[final],
                        "E": np.asarray(record.e)[final],
                        "pid": np.asarray(record.pid)[final].astype(np.int32),
                    }
                )
    except OSError as err:
        raise InputFileError(path, f"not a readable HepMC3 file ({err})") from None
    counts = np.asarray([p["px"].size for p in particles], dtype=np.int64)
    flat = {
        name: np.concatenate([p[name] for p in particles]) if particles else np.zeros(0)
        for name in ("px", "py", "pz", "E", "pid")
    }
    return ak.zip(
        {
            "event_number": np.asarray(numbers, dtype=np.int64),
            "weight": np.asarray(weights, dtype=np.float64),
            "particles": ak.unflatten(ak.zip(flat), counts),
        },
        depth_limit=1,
    )
