"""Relative paths in a profile are read from the profile's folder, and `stackproof check`
says which key names a file that is not there, before anything starts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import reference_variant

from stackproof.cli import main
from stackproof.errors import ProfileError
from stackproof.profile import load_profile

CA_BUNDLE = ("[policy.tls]\n", '[policy.tls]\nca_bundle = "trust/ca.pem"\n')


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """Run from another folder than the profile's, as `nox` or CI would."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    before = Path.cwd()
    os.chdir(cwd)
    try:
        yield cwd
    finally:
        os.chdir(before)


def test_a_relative_ca_bundle_is_read_from_the_profiles_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    folder = tmp_path / "profile"
    (folder / "trust").mkdir(parents=True)
    (folder / "trust" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", "utf-8")
    profile = load_profile(reference_variant(folder, dict([CA_BUNDLE])))
    assert profile.policy.tls.ca_bundle == folder / "trust" / "ca.pem"


def test_a_ca_bundle_that_is_not_there_names_the_key_and_the_file(
    tmp_path: Path, elsewhere: Path
) -> None:
    path = reference_variant(tmp_path, dict([CA_BUNDLE]))
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    message = str(raised.value)
    assert "policy.tls.ca_bundle" in message
    assert str(tmp_path / "trust" / "ca.pem") in message


def test_stackproof_check_refuses_it(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = reference_variant(tmp_path, dict([CA_BUNDLE]))
    assert main(["check", f"--profile={path}", "--backend=process"]) == 2
    assert "policy.tls.ca_bundle" in capsys.readouterr().err


def test_relative_binaries_are_read_from_the_profiles_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    path = reference_variant(
        tmp_path,
        {
            "[services.nginx.process]\n": '[services.nginx.process]\nbinary = "bin/nginx"\n',
            "[faults]\n": '[faults.toxiproxy]\nbinary = "bin/toxiproxy-server"\n\n[faults]\n',
        },
    )
    profile = load_profile(path)
    assert profile.services["nginx"].process.binary == str(tmp_path / "bin" / "nginx")
    assert profile.faults.toxiproxy.binary == str(tmp_path / "bin" / "toxiproxy-server")


def test_a_binary_named_without_a_folder_is_left_to_the_search_path(
    tmp_path: Path, elsewhere: Path
) -> None:
    path = reference_variant(
        tmp_path, {"[faults]\n": '[faults.toxiproxy]\nbinary = "toxiproxy-server"\n\n[faults]\n'}
    )
    assert load_profile(path).faults.toxiproxy.binary == "toxiproxy-server"


def test_the_stacks_interpreter_is_read_from_the_profiles_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    """`stack.python` (a virtualenv's interpreter, say) is what {{ python }} names."""
    folder = tmp_path / "profile"
    (folder / "venv" / "bin").mkdir(parents=True)
    (folder / "venv" / "bin" / "python").symlink_to(sys.executable)
    stack = (
        'public_host = "localhost"\n',
        'public_host = "localhost"\npython = "venv/bin/python"\n',
    )
    profile = load_profile(reference_variant(folder, dict([stack])))
    assert profile.stack.interpreter() == str(folder / "venv" / "bin" / "python")
    assert load_profile(reference_variant(folder, {})).stack.interpreter() == sys.executable
    assert main(["check", f"--profile={folder / 'variant.toml'}", "--backend=process"]) == 0


def test_an_interpreter_that_is_not_there_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = (
        'public_host = "localhost"\n',
        'public_host = "localhost"\npython = "venv/bin/python"\n',
    )
    path = reference_variant(tmp_path, dict([stack]))
    assert main(["check", f"--profile={path}", "--backend=process"]) == 2
    missing = tmp_path / "venv" / "bin" / "python"
    assert f"stack.python: {missing} is not an executable interpreter" in capsys.readouterr().err
