"""``hepdl delphes install`` without compiling Delphes: a Delphes-shaped source tree whose
Makefile stands in for the real one (the real build is tests/test_delphes_integration.py).

The build is atomic (a failed one leaves nothing, and says what ran and what it printed),
idempotent, works around the ROOT wheel's root-config, and the executable is then found by the
backend (explicit path, PATH, then the cache) and run with ROOT's libraries on its path.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from hepdl.cli import main
from hepdl.detector import delphes_install
from hepdl.detector.delphes import find_delphes
from hepdl.detector.delphes_install import (
    EXECUTABLE,
    MARKER,
    RootInstallation,
    cache_root,
    install_delphes,
    read_build,
    runtime_environment,
)
from hepdl.errors import ConfigError, HepdlError

#: A Makefile that "builds" DelphesHepMC3: records the folders root-config reports (through
#: the shim), counts its runs in ``$COUNT``, and writes an executable script.
_MAKEFILE = """\
%_rdict.pcm:
\t@touch $@

DelphesHepMC3:
\t@echo ">> Compiling modules/Delphes.cc"
\t@root-config --incdir > incdir.txt
\t@echo run >> "$$COUNT"
\t@printf '#!/bin/sh\\necho "Delphes $$*"\\n' > DelphesHepMC3
\t@chmod +x DelphesHepMC3
"""
_FAILING_MAKEFILE = """\
%_rdict.pcm:
\t@touch $@

DelphesHepMC3:
\t@echo ">> Compiling modules/Delphes.cc"
\t@echo "modules/Delphes.cc:1:10: fatal error: TLorentzVector.h: No such file or directory"
\t@false
"""


def _source_tree(folder: Path, makefile: str = _MAKEFILE) -> Path:
    """A folder shaped like Delphes' sources, with ``makefile``."""
    folder.mkdir(parents=True)
    (folder / "Makefile").write_text(makefile)
    for name in ("readers/DelphesHepMC3.cpp", "modules/Delphes.cc", "cards/delphes_card_ATLAS.tcl"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("// stand-in\n")
    return folder


def _tarball(tree: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=tree.name)
    return archive


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RootInstallation:
    """A ROOT 'wheel' whose root-config names the non-existent mock_site_packages folders."""
    package = tmp_path / "site-packages" / "ROOT"
    (package / "bin").mkdir(parents=True)
    (package / "lib").mkdir()
    (package.parent / "root.libs").mkdir()
    root_config = package / "bin" / "root-config"
    root_config.write_text(f"#!/bin/sh\necho {package}/mock_site_packages/ROOT/include\n")
    root_config.chmod(0o755)
    root = RootInstallation(root_config, (package / "lib", package.parent / "root.libs"), True)
    monkeypatch.setattr(delphes_install, "find_root", lambda: root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COUNT", str(tmp_path / "make-runs.txt"))
    return root


def test_install_builds_into_the_cache_once(tmp_path: Path, fake_root: RootInstallation) -> None:
    source = _tarball(_source_tree(tmp_path / "src" / "delphes-9.9.9"), tmp_path / "d.tar.gz")
    build = install_delphes(source, jobs=1)
    assert build.folder == cache_root() / "9.9.9"
    assert not build.existed
    assert os.access(build.executable, os.X_OK)
    assert all((build.folder / name).is_file() for name in delphes_install.DICTIONARIES)
    # the shim gave make the wheel's real include folder
    incdir = (build.folder / "incdir.txt").read_text().strip()
    assert incdir == str(fake_root.root_config.parents[1] / "include")
    record = json.loads((build.folder / MARKER).read_text())
    assert record["version"] == "9.9.9"
    assert record["root"]["library_dirs"] == [str(path) for path in fake_root.library_dirs]
    # nothing else beside it: the temporary build folder is gone
    assert sorted(path.name for path in cache_root().iterdir()) == ["9.9.9"]

    again = install_delphes(source, jobs=1)
    assert again.existed
    assert again.folder == build.folder
    assert (tmp_path / "make-runs.txt").read_text().splitlines() == ["run"]  # built once


def test_install_command_prints_where_the_build_is(
    tmp_path: Path, fake_root: RootInstallation, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _source_tree(tmp_path / "delphes-1.2.3")
    prefix = tmp_path / "opt" / "delphes"
    assert main(["delphes", "install", "--source", str(source), "--prefix", str(prefix)]) == 0
    assert "built Delphes 1.2.3 in" in capsys.readouterr().out
    assert main(["delphes", "install", "--source", str(source), "--prefix", str(prefix)]) == 0
    out = capsys.readouterr().out
    assert f"already built: {prefix / EXECUTABLE}" in out
    assert str(prefix / "cards" / "delphes_card_ATLAS.tcl") in out


def test_failed_build_leaves_nothing_and_says_what_ran(
    tmp_path: Path, fake_root: RootInstallation
) -> None:
    source = _source_tree(tmp_path / "delphes-3.0", _FAILING_MAKEFILE)
    with pytest.raises(HepdlError) as caught:
        install_delphes(source, jobs=1)
    message = str(caught.value)
    assert "building Delphes failed (exit status 2)" in message
    assert "make -j1 DelphesHepMC3 ClassesDict_rdict.pcm" in message
    assert "TLorentzVector.h: No such file or directory" in message  # the log's last lines
    assert not cache_root().exists() or list(cache_root().iterdir()) == []


def test_a_source_that_is_not_delphes_is_refused(
    tmp_path: Path, fake_root: RootInstallation
) -> None:
    tree = tmp_path / "notdelphes-1.0"
    tree.mkdir()
    (tree / "README").write_text("something else\n")
    archive = _tarball(tree, tmp_path / "other.tar.gz")
    with pytest.raises(
        HepdlError, match=r"other.tar.gz: not a Delphes source tree \(lacks Makefile"
    ):
        install_delphes(archive)
    assert list(cache_root().iterdir()) == []
    text = tmp_path / "file.tar.gz"
    text.write_bytes(b"not a tarball")
    with pytest.raises(HepdlError, match="not a readable source archive"):
        install_delphes(text)
    with pytest.raises(HepdlError, match="no such Delphes source"):
        install_delphes(tmp_path / "missing.tar.gz")


def test_offline_install_says_where_to_put_a_tarball(
    tmp_path: Path, fake_root: RootInstallation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delphes_install, "RELEASE_URL", "http://127.0.0.1:9/{version}.tar.gz")
    with pytest.raises(HepdlError, match=r"cannot download Delphes .*--source PATH"):
        install_delphes()
    assert list(cache_root().iterdir()) == []


def test_prefix_holding_something_else_is_refused(
    tmp_path: Path, fake_root: RootInstallation
) -> None:
    prefix = tmp_path / "occupied"
    prefix.mkdir()
    (prefix / "thesis.tex").write_text("\\begin{document}\n")
    with pytest.raises(HepdlError, match="holds no Delphes build by hepdl"):
        install_delphes(_source_tree(tmp_path / "delphes-1"), prefix)
    assert (prefix / "thesis.tex").is_file()


def test_the_backend_finds_the_build_and_runs_it_with_roots_libraries(
    tmp_path: Path, fake_root: RootInstallation, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = install_delphes(_source_tree(tmp_path / "delphes-4.0"), jobs=1)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert find_delphes(EXECUTABLE) == str(build.executable)  # from the cache
    assert find_delphes(str(build.executable)) == str(build.executable)  # a path
    # PATH comes before the cache
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    other = bin_dir / EXECUTABLE
    other.write_text("#!/bin/sh\n")
    other.chmod(other.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_delphes(EXECUTABLE) == str(other)
    with pytest.raises(ConfigError, match="not an executable file") as caught:
        find_delphes(str(tmp_path / "nowhere" / EXECUTABLE))
    assert caught.value.key == "detector.delphes_executable"

    environment = runtime_environment(build.executable, {"LD_LIBRARY_PATH": "/usr/lib/x"})
    assert environment["LD_LIBRARY_PATH"].split(os.pathsep) == [
        *(str(path) for path in fake_root.library_dirs),
        "/usr/lib/x",
    ]
    assert environment["ROOT_INCLUDE_PATH"].split(os.pathsep) == [
        str(build.folder),
        str(build.folder / "external"),
    ]
    # a Delphes hepdl did not build (conda-forge's) runs in the environment as it is
    assert runtime_environment(other, {"A": "1"}) == {"A": "1"}


def test_a_build_whose_root_is_gone_is_rebuilt(
    tmp_path: Path, fake_root: RootInstallation, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source_tree(tmp_path / "delphes-5.0")
    build = install_delphes(source, jobs=1)
    record = json.loads((build.folder / MARKER).read_text())
    record["root"]["root_config"] = str(tmp_path / "uninstalled" / "root-config")
    (build.folder / MARKER).write_text(json.dumps(record))
    rebuilt = install_delphes(source, jobs=1)
    assert not rebuilt.existed
    assert (tmp_path / "make-runs.txt").read_text().splitlines() == ["run", "run"]
    assert read_build(build.folder) is not None


def test_shim_rewrites_only_the_mock_folder(tmp_path: Path) -> None:
    root_config = tmp_path / "root-config"
    root_config.write_text(
        "#!/bin/sh\necho -I/sp/ROOT/mock_site_packages/ROOT/include -L/sp/ROOT/mock_site_packages"
        '/ROOT/lib -lCore "$@"\n'
    )
    root_config.chmod(0o755)
    root = RootInstallation(root_config, (), wheel=True)
    shim = delphes_install._shim(root, tmp_path / "shim") / "root-config"
    out = subprocess.run([shim, "--cflags"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "-I/sp/ROOT/include -L/sp/ROOT/lib -lCore --cflags"


def test_without_root_it_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delphes_install.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HepdlError, match=r'pip install -e "\.\[delphes\]"'):
        delphes_install.find_root()
