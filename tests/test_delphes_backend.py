"""The real-Delphes backend, as far as it can be tested without Delphes.

HepMC3 export round-trips; the command line and the seeded wrapper card are right; a missing
Delphes says how to install it; and the whole backend runs against a stand-in executable that
takes Delphes' arguments and writes a Delphes-schema file (with hepdl's fast simulation).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyhepmc
import pytest

from hepdl.detector import simulate_shard
from hepdl.detector.delphes import (
    INSTALL_HINT,
    WRAPPER_CARD,
    chunk_seed,
    delphes_chunks,
    delphes_command,
    find_delphes,
    from_delphes_output,
    seeded_card,
)
from hepdl.detector.fastsim import SimulationSettings
from hepdl.detector.hepmc import BEAM_PDG_ID, PROTON_MASS_GEV, read_hepmc3, write_hepmc3
from hepdl.errors import ConfigError, HepdlError
from hepdl.io import DelphesWriter, read_delphes
from hepdl.jets import FatJetSettings, cluster_fat_jets

from .detector_fixtures import (
    ATLAS_CARD,
    atlas_card,
    detector_config,
    random_events,
    simulate,
    write_event_file,
)


def test_hepmc3_export_round_trips(tmp_path: Path) -> None:
    events = random_events(7, 60, seed=9, first_event=40)
    events = ak.with_field(events, np.linspace(0.5, 2.0, 7), "weight")
    path = write_hepmc3(tmp_path / "events.hepmc", events, ecm_gev=13000.0)
    back = read_hepmc3(path)
    assert ak.to_list(back.event_number) == list(range(40, 47))
    np.testing.assert_allclose(back.weight, np.linspace(0.5, 2.0, 7))
    for field in ("px", "py", "pz", "E"):
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(back.particles[field])),
            ak.to_numpy(ak.flatten(events.particles[field])),
            rtol=1e-12,
            atol=1e-12,
        )
    assert ak.all(back.particles.pid == events.particles.pid)
    with pyhepmc.open(path) as source:
        first = next(iter(source))
    beams = [p for p in first.particles if p.status == 4]
    assert [p.pid for p in beams] == [BEAM_PDG_ID, BEAM_PDG_ID]
    assert sum(p.momentum.e for p in beams) == pytest.approx(13000.0)
    assert first.length_unit == pyhepmc.Units.MM
    assert first.momentum_unit == pyhepmc.Units.GEV


def test_delphes_command_line() -> None:
    command = delphes_command(
        "/opt/bin/DelphesHepMC3", Path("/s/card.tcl"), Path("/s/out.root"), Path("/s/in.hepmc")
    )
    assert command == ["/opt/bin/DelphesHepMC3", "/s/card.tcl", "/s/out.root", "/s/in.hepmc"]


def test_seeded_card_sources_the_card_from_its_folder(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "my_card.tcl").write_text("source common.tcl\nset ExecutionPath {}\n")
    (cards / "common.tcl").write_text("set Something 1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    wrapper = seeded_card(cards / "my_card.tcl", 4242, scratch)
    assert wrapper == scratch / WRAPPER_CARD
    lines = wrapper.read_text().splitlines()
    assert "source {my_card.tcl}" in lines  # braced: Tcl substitutes nothing in the name
    assert lines[-1] == "set RandomSeed 4242"  # after the card: the config's seed wins
    # Delphes resolves `source` relative to the top card: both files are reachable there.
    assert (scratch / "my_card.tcl").read_text().startswith("source common.tcl")
    assert (scratch / "common.tcl").is_file()


def test_seeded_card_refuses_a_path_tcl_cannot_quote(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    card = cards / "x}; exec touch pwned; {.tcl"
    card.write_text("set Something 1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(ConfigError, match="brace, backslash or newline") as caught:
        seeded_card(card, 1, scratch)
    assert caught.value.key == "detector.delphes_card"
    assert not (scratch / WRAPPER_CARD).exists()


def test_missing_delphes_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="conda-forge delphes") as caught:
        find_delphes("DelphesHepMC3-not-installed")
    assert caught.value.key == "detector.delphes_executable"
    assert "conda install -c conda-forge delphes" in INSTALL_HINT

    card = tmp_path / "card.tcl"
    card.write_text("set ExecutionPath {}\n")
    config = detector_config(
        tmp_path / "results",
        {"backend": "delphes", "delphes_card": str(card), "delphes_executable": "NoDelphesHere"},
    )
    source = write_event_file(tmp_path / "events.parquet", random_events(3, 20, seed=1))
    with pytest.raises(ConfigError, match=r"NoDelphesHere' was not found on PATH.*conda-forge"):
        simulate_shard(config, "GUN", 0, events_file=source, progress=False)
    assert not (tmp_path / "results" / "detector" / "GUN" / "0.root").exists()


def test_delphes_backend_needs_a_delphes_card(tmp_path: Path) -> None:
    config = detector_config(tmp_path / "results", {"backend": "delphes"})
    with pytest.raises(ConfigError) as caught:
        simulate_shard(config, "GUN", 0, events_file=tmp_path / "x.parquet", progress=False)
    assert caught.value.key == "detector.delphes_card"


_STAND_IN = '''#!{python}
"""Stands in for DelphesHepMC3: checks its arguments, writes Tower, Track and Jet."""
import sys
from pathlib import Path

import awkward as ak
import numpy as np

from hepdl.config import validate_config
from hepdl.detector.card import load_card
from hepdl.detector.fastsim import SimulationSettings, simulate_events
from hepdl.detector.hepmc import read_hepmc3
from hepdl.detector.rng import CounterRNG
from hepdl.io.delphes import DelphesWriter

card, output, hepmc = map(Path, sys.argv[1:])
text = card.read_text()
assert Path.cwd() == card.parent, "Delphes runs in the wrapper card's folder"
source = text.split("source ")[1].split()[0].strip("{{}}")  # a braced Tcl word
assert (card.parent / source).is_file(), "the sourced card is reachable"
seed = int(text.split("set RandomSeed ")[1].split()[0])
events = read_hepmc3(hepmc)
charge = {{22: 0, 11: -1, 13: -1, 12: 0, 211: 1, -211: -1, 130: 0, 310: 0, 2112: 0, 321: 1}}
pid = ak.to_numpy(ak.flatten(events.particles.pid))
flat = ak.flatten(events.particles)
particles = ak.zip({{
    **{{name: flat[name] for name in flat.fields}},
    "charge": np.array([charge[int(code)] for code in pid], dtype=np.int8),
    "pileup": np.zeros(len(pid), dtype=bool),
}})
events = ak.with_field(events, ak.unflatten(particles, ak.num(events.particles)), "particles")
config = validate_config({{"samples": {{"A": {{"process": "minbias", "events": 1, "shards": 1}}}}}})
out = simulate_events(events, load_card("{card}"), SimulationSettings.from_config(config),
                      CounterRNG(seed))
with DelphesWriter(output, collections=("Event", "Tower", "Track", "Jet")) as writer:
    writer.extend(out)
'''


def test_delphes_backend_runs_and_converts_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "DelphesHepMC3"
    executable.write_text(_STAND_IN.format(python=sys.executable, card=ATLAS_CARD))
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    card = tmp_path / "cards" / "delphes_card.tcl"
    card.parent.mkdir()
    card.write_text("set ExecutionPath {TreeWriter}\n")
    # the random events' large-R jets are soft: keep them, to check they are clustered
    detector = {"backend": "delphes", "delphes_card": str(card), "fatjet": {"pt_min_gev": 20.0}}
    config = detector_config(tmp_path / "results", detector, events=6)
    events = random_events(6, 300, seed=4, first_event=10)
    source = write_event_file(tmp_path / "events.parquet", events)

    result = simulate_shard(config, "GUN", 0, events_file=source, progress=False)

    content = read_delphes(result.path)
    assert content.metadata is not None
    assert content.metadata["backend"] == "delphes"
    assert content.metadata["delphes_card"] == str(card)
    assert ak.to_list(ak.flatten(content.events.Event.Number)) == list(range(10, 16))
    assert set(content.events.fields) >= {"Tower", "Track", "Jet", "FatJet", "GenJet", "GenFatJet"}
    assert ak.sum(ak.num(content.events.Tower)) > 0
    assert ak.sum(ak.num(content.events.FatJet)) > 0  # clustered by hepdl on Delphes' towers
    assert ak.sum(ak.num(content.events.GenJet)) > 0  # clustered by hepdl on the particles
    assert result.steps["delphes"] > 0


def test_delphes_output_without_truth_fat_jets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``detector.fatjet.truth: false`` the backend clusters no GenFatJet (one large-R
    clustering, FatJet's, instead of two) and the rest of its collections are those of the
    default config."""
    events = random_events(6, 300, seed=3)
    delphes_output = tmp_path / "delphes.root"
    with DelphesWriter(delphes_output, collections=("Event", "Tower", "Track", "Jet")) as writer:
        writer.extend(simulate(events))
    clusterings: list[FatJetSettings] = []

    def counted(inputs: ak.Array, settings: FatJetSettings) -> tuple[ak.Array, ak.Array]:
        clusterings.append(settings)
        return cluster_fat_jets(inputs, settings)

    monkeypatch.setattr("hepdl.detector.fastsim.cluster_fat_jets", counted)
    converted, large_r_clusterings = {}, {}
    for truth in (True, False):
        config = detector_config(tmp_path, {"fatjet": {"truth": truth, "pt_min_gev": 20.0}})
        settings = SimulationSettings.from_config(config)
        clusterings.clear()
        converted[truth] = from_delphes_output(delphes_output, events, settings, atlas_card().jets)
        large_r_clusterings[truth] = len(clusterings)
    assert large_r_clusterings == {True: 2, False: 1}
    full, lean = converted[True], converted[False]
    assert "GenFatJet" in full
    assert ak.sum(ak.num(full["GenFatJet"])) > 0, "the fixture has truth large-R jets"
    assert list(lean) == [name for name in full if name != "GenFatJet"]
    for name, records in lean.items():
        assert ak.array_equal(records, full[name]), name


@pytest.fixture(autouse=True)
def _no_cached_delphes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide a Delphes that ``hepdl delphes install`` put in this machine's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))


def _stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """Put a DelphesHepMC3 running the Python ``body`` first on PATH; returns a card."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    executable = bin_dir / "DelphesHepMC3"
    executable.write_text(f"#!{sys.executable}\n{body}")
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    card = tmp_path / "cards" / "delphes_card.tcl"
    card.parent.mkdir(exist_ok=True)
    card.write_text("set ExecutionPath {TreeWriter}\n")
    return card


def test_delphes_chunks_are_cut_and_seeded_by_event_number() -> None:
    numbers = np.arange(25, 85)
    chunks = delphes_chunks(numbers, 30, 11, "S")
    assert [(c.start, c.stop) for c in chunks] == [(0, 5), (5, 35), (35, 60)]
    assert [c.seed for c in chunks] == [chunk_seed(11, "S", k) for k in (0, 1, 2)]
    assert len({c.seed for c in chunks}) == 3
    # the same events in another shard: the chunk of events 30-59 gets the same seed
    other = delphes_chunks(np.arange(30, 60), 30, 11, "S")
    assert [(c.start, c.stop, c.seed) for c in other] == [(0, 30, chunks[1].seed)]
    assert chunk_seed(11, "T", 1) != chunks[1].seed
    assert delphes_chunks(np.zeros(0, dtype=np.int64), 30, 11, "S") == []


_COUNTING_STAND_IN = """
import sys
from pathlib import Path
from hepdl.detector.hepmc import read_hepmc3
from hepdl.io.delphes import DelphesWriter, COLLECTIONS
import awkward as ak, numpy as np
card, output, hepmc = map(Path, sys.argv[1:])
seed = int(card.read_text().split("set RandomSeed ")[1].split()[0])
events = read_hepmc3(hepmc)
with open({log!r}, "a") as log:
    log.write(f"{{seed}} {{len(events)}} {{events.event_number[0]}}\\n")
{after}
n = len(events)
empty = {{name: ak.unflatten(ak.zip({{f: np.zeros(0, t) for f, t in COLLECTIONS[name].items()}}),
                             np.zeros(n, dtype=np.int64)) for name in ("Tower", "Track")}}
with DelphesWriter(output, collections=("Tower", "Track")) as writer:
    writer.extend(empty)
"""


@pytest.mark.slow  # two stand-in Delphes processes, each importing hepdl
def test_delphes_runs_once_per_chunk_with_its_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "runs.txt"
    card = _stand_in(tmp_path, monkeypatch, _COUNTING_STAND_IN.format(log=str(log), after=""))
    detector = {"backend": "delphes", "delphes_card": str(card), "batch_size": 4}
    config = detector_config(tmp_path / "results", detector, events=6)
    source = write_event_file(tmp_path / "e.parquet", random_events(6, 40, seed=2, first_event=10))
    result = simulate_shard(config, "GUN", 0, events_file=source, progress=False)
    runs = [line.split() for line in log.read_text().splitlines()]
    seeds = [chunk_seed(config["seed"], "GUN", k) for k in (2, 3)]  # events 10-11, 12-15
    assert runs == [[str(seeds[0]), "2", "10"], [str(seeds[1]), "4", "12"]]
    assert result.metadata["delphes_seeds"] == [int(run[0]) for run in runs]
    assert read_delphes(result.path).metadata["delphes_chunk_events"] == 4
    assert result.steps["delphes"] > 0
    assert result.steps["hepmc"] > 0


def test_delphes_killed_mid_shard_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second chunk's Delphes dies by SIGKILL after writing part of its file: the shard's
    file never appears (nor any temporary), and the error says how Delphes ended."""
    log = tmp_path / "runs.txt"
    after = (
        f"if len(open({str(log)!r}).readlines()) == 2:\n"
        "    output.write_bytes(b'root' * 100)\n"
        "    import os, signal\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    card = _stand_in(tmp_path, monkeypatch, _COUNTING_STAND_IN.format(log=str(log), after=after))
    detector = {"backend": "delphes", "delphes_card": str(card), "batch_size": 3}
    config = detector_config(tmp_path / "results", detector, events=6)
    source = write_event_file(tmp_path / "e.parquet", random_events(6, 30, seed=5))
    with pytest.raises(
        HepdlError, match=r"Delphes was killed by SIGKILL running card .*delphes_card\.tcl"
    ):
        simulate_shard(config, "GUN", 0, events_file=source, progress=False)
    folder = tmp_path / "results" / "detector" / "GUN"
    assert list(folder.iterdir()) == [] if folder.exists() else True
    assert len(log.read_text().splitlines()) == 2


def test_a_card_delphes_rejects_gives_its_message_and_the_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        "import sys\n"
        "print('** INFO: adding module        Merger                   Calorimeter')\n"
        "print('** ERROR: module NoSuchModule is not found', file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    card = _stand_in(tmp_path, monkeypatch, body)
    config = detector_config(
        tmp_path / "results", {"backend": "delphes", "delphes_card": str(card)}
    )
    source = write_event_file(tmp_path / "e.parquet", random_events(3, 20, seed=1))
    with pytest.raises(HepdlError) as caught:
        simulate_shard(config, "GUN", 0, events_file=source, progress=False)
    message = str(caught.value)
    assert f"failed (exit status 1) running card {card}" in message
    assert message.endswith("Delphes said:\n** ERROR: module NoSuchModule is not found")
    assert not (tmp_path / "results" / "detector" / "GUN" / "0.root").exists()


def _pyhepmc_reference(path: Path, events: ak.Array, ecm_gev: float) -> None:
    """The same events written by HepMC3's own writer (pyhepmc), the reference format."""
    beam = 0.5 * ecm_gev
    beam_pz = np.sqrt(beam**2 - PROTON_MASS_GEV**2)
    with pyhepmc.open(path, "w") as output:
        for number, weight, particles in zip(
            ak.to_numpy(events.event_number),
            ak.to_numpy(events.weight),
            events.particles,
            strict=True,
        ):
            px, py, pz, e = (np.asarray(particles[k], float) for k in ("px", "py", "pz", "E"))
            parents = np.zeros((px.size + 2, 2), dtype=np.int32)
            parents[2:] = (1, 2)
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.from_hepevt(
                int(number),
                np.r_[0.0, 0.0, px],
                np.r_[0.0, 0.0, py],
                np.r_[beam_pz, -beam_pz, pz],
                np.r_[beam, beam, e],
                np.r_[
                    PROTON_MASS_GEV,
                    PROTON_MASS_GEV,
                    np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0)),
                ],
                np.r_[BEAM_PDG_ID, BEAM_PDG_ID, np.asarray(particles.pid)].astype(np.int32),
                np.r_[4, 4, np.ones(px.size)].astype(np.int32),
                parents,
            )
            event.weights = [float(weight)]
            output.write(event)


def test_hepmc3_writer_prints_what_hepmc3_prints(tmp_path: Path) -> None:
    """Line by line, token by token, as HepMC3's writer: the same integers, the same layout
    of every number (C's %.16e), values equal to within the last of 17 digits; including
    negative zero, three-digit exponents, huge PDG ids and an event without particles."""
    events = random_events(40, 60, seed=8, first_event=99)
    events = ak.with_field(events, np.geomspace(1e-3, 1e3, 40), "weight")
    extreme = ak.zip(
        {
            "px": [[-0.0, 1e-120, 123456.789]],
            "py": [[0.0, -2.5e-5, 9.999999999999999e22]],
            "pz": [[1.0, 1e150, -3.0]],
            "E": [[2.0, 1e151, 1e23]],
            "pid": [[-1000022, 1000010020, 22]],
            "charge": [[0, 1, 0]],
            "pileup": [[False, False, False]],
        }
    )
    special = ak.zip(
        {
            "event_number": [7, 8],
            "weight": [1.0, 0.5],
            "particles": [*extreme.tolist(), []],  # the second event has no particles
        },
        depth_limit=1,
    )
    for name, sample in (("random", events), ("special", special)):
        ours, theirs = tmp_path / f"{name}.hepmc", tmp_path / f"{name}-ref.hepmc"
        write_hepmc3(ours, sample, 13000.0)
        _pyhepmc_reference(theirs, sample, 13000.0)
        our_lines, their_lines = ours.read_text().splitlines(), theirs.read_text().splitlines()
        assert len(our_lines) == len(their_lines), name
        for mine, reference in zip(our_lines, their_lines, strict=True):
            tokens, expected = mine.split(" "), reference.split(" ")
            assert len(tokens) == len(expected), (mine, reference)
            for token, want in zip(tokens, expected, strict=True):
                if "e" in want and want[0] in "-0123456789":
                    assert len(token) == len(want), (token, want)  # the same layout
                    assert float(token) == pytest.approx(float(want), rel=4e-16, abs=0.0)
                    assert np.signbit(float(token)) == np.signbit(float(want))
                else:
                    assert token == want, (mine, reference)
