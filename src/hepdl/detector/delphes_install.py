"""``hepdl delphes install``: build DelphesHepMC3 against ROOT from PyPI, into a cache.

ROOT 6.40 is a pip package (``root==0.1a12``, the ``delphes`` extra), so Delphes builds on any
Linux laptop with a C++ compiler and ``make``, without conda. Two quirks of that wheel are worked
around here, without touching the installed package:

- its ``root-config`` names include and library folders under ``ROOT/mock_site_packages/ROOT``,
  which the wheel does not create: the build runs with a ``root-config`` shim first on ``PATH``
  that prints the real folders (a symbolic link inside site-packages would do the same, but it
  would be lost on the next ``pip install`` and needs a writable site-packages);
- its bundled libfreetype has no RPATH to its own dependencies (libpng, libbz2 in
  ``root.libs``): the build, and every Delphes run (:func:`runtime_environment`), has
  ``root.libs`` on ``LD_LIBRARY_PATH``.

Delphes' Makefile route is used (``make -j N DelphesHepMC3`` and the ROOT dictionaries' PCM
files beside it, :data:`DICTIONARIES`; about 3.5 min on 2 idle cores); its
cmake route needs ROOT's Eve, Geom and RGL, which the wheel lacks. The build happens in a
temporary folder beside the target and is renamed into place when it succeeded, so the cache
holds complete builds only; a failed build leaves nothing and reports the command and the last
lines of its log. A finished build holds :data:`MARKER`, a JSON record of the ROOT it was built
against; a build whose ROOT is gone is rebuilt.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepdl.errors import HepdlError

__all__ = [
    "DEFAULT_VERSION",
    "EXECUTABLE",
    "MARKER",
    "RELEASE_URL",
    "DelphesBuild",
    "RootInstallation",
    "cache_root",
    "cached_executables",
    "find_root",
    "install_delphes",
    "read_build",
    "runtime_environment",
]

#: The Delphes release built without ``--source``.
DEFAULT_VERSION = "3.5.1"
#: The official release archive (GitHub's tag archive of delphes/delphes).
RELEASE_URL = "https://github.com/delphes/delphes/archive/refs/tags/{version}.tar.gz"
#: The executable built, and the one the backend runs.
EXECUTABLE = "DelphesHepMC3"
#: The ROOT dictionaries' PCM files, which the Makefile copies beside the executable, where
#: ROOT looks for them at run time (without them, and without the headers on
#: ROOT_INCLUDE_PATH, Delphes crashes creating its first branch).
DICTIONARIES = (
    "ClassesDict_rdict.pcm",
    "ExRootAnalysisDict_rdict.pcm",
    "ModulesDict_rdict.pcm",
    "FastJetDict_rdict.pcm",
)
#: The record of a finished build, in its folder.
MARKER = "hepdl-delphes-build.json"
#: Lines of the build log quoted when the build fails.
LOG_TAIL_LINES = 25
#: Files that make a folder a Delphes source tree.
_SOURCE_FILES = ("Makefile", "readers/DelphesHepMC3.cpp", "modules/Delphes.cc")
#: The part of the wheel's root-config paths that does not exist.
_MOCK_SEGMENT = "/mock_site_packages/ROOT"


def cache_root() -> Path:
    """The folder holding hepdl's Delphes builds: ``$XDG_CACHE_HOME/hepdl/delphes`` (default
    ``~/.cache/hepdl/delphes``), one subfolder per version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hepdl" / "delphes"


@dataclass(frozen=True)
class RootInstallation:
    """The ROOT that Delphes is built against and runs with.

    Attributes:
        root_config: The ``root-config`` executable.
        library_dirs: Folders Delphes needs on ``LD_LIBRARY_PATH`` (ROOT's libraries and, for
            the PyPI wheel, the bundled ``root.libs``).
        wheel: Whether it is the PyPI wheel (whose ``root-config`` needs the shim).
    """

    root_config: Path
    library_dirs: tuple[Path, ...]
    wheel: bool

    def as_record(self) -> dict[str, Any]:
        """JSON-ready form (stored in :data:`MARKER`)."""
        return {
            "root_config": str(self.root_config),
            "library_dirs": [str(path) for path in self.library_dirs],
            "wheel": self.wheel,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RootInstallation:
        """Inverse of :meth:`as_record`."""
        return cls(
            root_config=Path(record["root_config"]),
            library_dirs=tuple(Path(path) for path in record["library_dirs"]),
            wheel=bool(record["wheel"]),
        )

    def exists(self) -> bool:
        """Whether this ROOT is still installed."""
        return self.root_config.is_file() and all(path.is_dir() for path in self.library_dirs)


def find_root() -> RootInstallation:
    """The ROOT of the ``delphes`` extra (PyPI wheel), else a ``root-config`` on ``PATH``.

    The package is located without importing it (importing ROOT takes seconds and prints an
    alpha-release warning).

    Raises:
        HepdlError: saying how to install ROOT, if neither is found.
    """
    spec = importlib.util.find_spec("ROOT")
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        root_config = package / "bin" / "root-config"
        if root_config.is_file():
            libraries = [package / "lib", package.parent / "root.libs"]
            return RootInstallation(
                root_config, tuple(path for path in libraries if path.is_dir()), wheel=True
            )
    found = shutil.which("root-config")
    if found is not None:
        libdir = subprocess.run(
            [found, "--libdir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return RootInstallation(Path(found), (Path(libdir),) if libdir else (), wheel=False)
    msg = (
        "Delphes needs CERN ROOT, which was not found (no ROOT Python package with root-config, "
        'no root-config on PATH); install it with: pip install -e ".[delphes]" (ROOT from '
        "PyPI), or use conda-forge's delphes package"
    )
    raise HepdlError(msg)


@dataclass(frozen=True)
class DelphesBuild:
    """A finished build in the cache.

    Attributes:
        folder: The build's folder (a built Delphes source tree).
        version: Delphes version (from the source's top folder name).
        root: The ROOT it was built against.
        seconds: Wall-clock time of the build (0 if it was already there).
        existed: Whether the build was already there.
    """

    folder: Path
    version: str
    root: RootInstallation
    seconds: float = 0.0
    existed: bool = False

    @property
    def executable(self) -> Path:
        """The DelphesHepMC3 executable."""
        return self.folder / EXECUTABLE

    @property
    def atlas_card(self) -> Path:
        """The ATLAS card of this Delphes."""
        return self.folder / "cards" / "delphes_card_ATLAS.tcl"


def read_build(folder: Path) -> DelphesBuild | None:
    """The build in ``folder``, or None if it holds no complete build by hepdl."""
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        build = DelphesBuild(
            folder=folder,
            version=str(record["version"]),
            root=RootInstallation.from_record(record["root"]),
            existed=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return build if build.executable.is_file() else None


def cached_executables(root: Path | None = None) -> list[Path]:
    """DelphesHepMC3 executables of the complete builds in the cache, newest version last."""
    folder = root or cache_root()
    if not folder.is_dir():
        return []
    builds = [read_build(entry) for entry in sorted(folder.iterdir(), key=_version_key)]
    return [build.executable for build in builds if build is not None]


def _version_key(path: Path) -> tuple[Any, ...]:
    """Sort key of version folders: numeric parts compared as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"[.\-]", path.name)
    )


def runtime_environment(executable: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run ``executable`` in.

    For a build by hepdl: ROOT's library folders first on ``LD_LIBRARY_PATH`` (the wheel's
    libraries have no RPATH to each other), and the Delphes tree and its ``external/`` on
    ``ROOT_INCLUDE_PATH`` (otherwise ROOT's interpreter prints ``Missing FileEntry`` for every
    Delphes header at start-up). Any other Delphes (conda-forge's) runs in ``base`` unchanged.
    """
    environment = dict(os.environ if base is None else base)
    build = read_build(executable.resolve().parent)
    if build is None:
        return environment
    _prepend(environment, "LD_LIBRARY_PATH", [str(path) for path in build.root.library_dirs])
    _prepend(environment, "ROOT_INCLUDE_PATH", [str(build.folder), str(build.folder / "external")])
    return environment


def _prepend(environment: dict[str, str], name: str, folders: list[str]) -> None:
    existing = [entry for entry in environment.get(name, "").split(os.pathsep) if entry]
    environment[name] = os.pathsep.join([*folders, *existing])


def _shim(root: RootInstallation, folder: Path) -> Path:
    """A ``root-config`` in ``folder`` that prints the wheel's real folders."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "root-config"
    shim.write_text(
        "#!/bin/sh\n"
        "# hepdl: the PyPI wheel's root-config names folders under mock_site_packages/ROOT,\n"
        "# which do not exist; print the real ones.\n"
        f'{shlex.quote(str(root.root_config))} "$@" | sed "s#{_MOCK_SEGMENT}##g"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    return folder


def build_environment(root: RootInstallation, shim_dir: Path | None) -> dict[str, str]:
    """The environment of the build: the shim (wheel) and ROOT's ``bin`` first on ``PATH``,
    ROOT's libraries on ``LD_LIBRARY_PATH``, no ``ROOTSYS`` (Delphes' Makefile would take
    ``$ROOTSYS/bin/root-config`` over the shim)."""
    environment = dict(os.environ)
    environment.pop("ROOTSYS", None)
    paths = [str(root.root_config.parent)]
    if shim_dir is not None:
        paths.insert(0, str(shim_dir))
    _prepend(environment, "PATH", paths)
    _prepend(environment, "LD_LIBRARY_PATH", [str(path) for path in root.library_dirs])
    return environment


def _version_of(name: str) -> str:
    """Version from a source folder's name: ``delphes-3.5.1-16-g0ee14ba`` -> ``3.5.1-16-g0ee14ba``."""
    return re.sub(r"^[Dd]elphes[-_]?", "", name) or name


def _tar_top_folder(archive: Path) -> str:
    """The single top folder of a source archive."""
    try:
        with tarfile.open(archive) as tar:
            first = next(iter(tar), None)
    except (OSError, tarfile.TarError) as err:
        msg = f"{archive}: not a readable source archive ({err}); expected a Delphes .tar.gz"
        raise HepdlError(msg) from None
    if first is None:
        msg = f"{archive}: empty archive; expected a Delphes source .tar.gz"
        raise HepdlError(msg)
    return first.name.lstrip("./").split("/", 1)[0]


def source_version(source: Path) -> str:
    """The Delphes version of a source archive or folder (from its top folder's name)."""
    if source.is_dir():
        return _version_of(source.resolve().name)
    return _version_of(_tar_top_folder(source))


def _download(version: str, folder: Path) -> Path:
    """Fetch the official release archive into ``folder``.

    Raises:
        HepdlError: offline or on any download failure, saying where to put a tarball.
    """
    url = RELEASE_URL.format(version=version)
    target = folder / f"delphes-{version}.tar.gz"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        msg = (
            f"cannot download Delphes {version} from {url} ({err}); on a machine without "
            "internet, copy a Delphes source archive (.tar.gz, e.g. the release from "
            "https://github.com/delphes/delphes/releases) or an unpacked source folder here and "
            "run: hepdl delphes install --source PATH"
        )
        existing = cached_executables()
        if existing:
            msg += f" (the cache already holds a build, which the backend uses: {existing[-1]})"
        raise HepdlError(msg) from None
    return target


def _unpack(source: Path, folder: Path) -> Path:
    """Put the Delphes source tree of ``source`` (archive or folder) into ``folder``."""
    if source.is_dir():
        tree = folder / source.resolve().name
        shutil.copytree(source, tree, symlinks=True, ignore=shutil.ignore_patterns("tmp", "*.o"))
    else:
        try:
            with tarfile.open(source) as tar:
                tar.extractall(folder, filter="data")
        except (OSError, tarfile.TarError) as err:
            msg = f"{source}: cannot unpack ({err}); expected a Delphes source .tar.gz"
            raise HepdlError(msg) from None
        tree = folder / _tar_top_folder(source)
    missing = [name for name in _SOURCE_FILES if not (tree / name).is_file()]
    if missing:
        msg = (
            f"{source}: not a Delphes source tree (lacks {', '.join(missing)}); expected the "
            "delphes/delphes sources, e.g. a release .tar.gz"
        )
        raise HepdlError(msg)
    return tree


def _log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no build log)"
    return "\n".join(text.splitlines()[-lines:])


def _make(tree: Path, root: RootInstallation, jobs: int, log: Path) -> None:
    """Run Delphes' Makefile for DelphesHepMC3 in ``tree``, output to ``log``.

    Raises:
        HepdlError: with the command and the log's last lines, if the build fails.
    """
    shim_dir = _shim(root, tree / ".hepdl-bin") if root.wheel else None
    command = ["make", f"-j{jobs}", EXECUTABLE, *DICTIONARIES]
    environment = build_environment(root, shim_dir)
    with log.open("w", encoding="utf-8") as output:
        try:
            completed = subprocess.run(
                command,
                cwd=tree,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        except OSError as err:
            msg = f"cannot run {shlex.join(command)} in {tree}: {err}; is make installed?"
            raise HepdlError(msg) from None
    if completed.returncode != 0 or not (tree / EXECUTABLE).is_file():
        msg = (
            f"building Delphes failed (exit status {completed.returncode}) running "
            f"{shlex.join(command)} in {tree} (PATH starting "
            f"{environment['PATH'].split(os.pathsep)[0]}); last lines of its log:\n"
            f"{_log_tail(log)}"
        )
        raise HepdlError(msg)


def install_delphes(
    source: Path | None = None,
    prefix: Path | None = None,
    *,
    jobs: int | None = None,
    version: str = DEFAULT_VERSION,
) -> DelphesBuild:
    """Build DelphesHepMC3 into ``prefix`` (default ``cache_root() / <version>``), once.

    Args:
        source: A Delphes source archive (.tar.gz) or folder; None downloads release
            ``version``.
        prefix: The build's folder; must not exist unless it holds a build by hepdl.
        jobs: Parallel compilations (default: the machine's CPU count).
        version: The release downloaded when ``source`` is None.

    Returns:
        The build; ``existed`` is true if it was already there (nothing was done).

    Raises:
        HepdlError: without ROOT, for a source that is not Delphes, a failed download (saying
            where to put a tarball) or a failed build (the command and its log's last lines);
            nothing is left at ``prefix`` then.
    """
    if source is not None and not source.exists():
        msg = f"{source}: no such Delphes source (expected a .tar.gz archive or a folder)"
        raise HepdlError(msg)
    found_version = source_version(source) if source is not None else version
    target = prefix or cache_root() / found_version
    existing = read_build(target)
    if existing is not None and existing.root.exists():
        return existing
    if target.exists() and existing is None:
        msg = (
            f"{target} exists and holds no Delphes build by hepdl; remove it or choose another "
            "--prefix"
        )
        raise HepdlError(msg)
    root = find_root()
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    try:
        archive = source if source is not None else _download(version, scratch)
        tree = _unpack(archive, scratch / "source")
        _make(tree, root, jobs or os.cpu_count() or 1, scratch / "build.log")
        build = DelphesBuild(
            folder=target,
            version=found_version,
            root=root,
            seconds=time.perf_counter() - start,
        )
        record = {
            "version": found_version,
            "source": str(source) if source is not None else RELEASE_URL.format(version=version),
            "root": root.as_record(),
            "build_seconds": round(build.seconds, 1),
        }
        (tree / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if existing is not None:  # a stale build (its ROOT is gone): replaced whole
            shutil.rmtree(target)
        try:
            tree.rename(target)
        except OSError:
            if read_build(target) is None:  # not a concurrent install that finished first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return build
