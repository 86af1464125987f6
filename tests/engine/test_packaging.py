"""Install drift: every dependency is capped below its next major version, so a fresh install resolves to
releases of the kind we test (OpenCV 5, with no CascadeClassifier, once broke `make test`)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

SETUP_CFG = Path(__file__).resolve().parents[2] / "setup.cfg"


def requirements() -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    lines = config["options"]["install_requires"].splitlines()
    for extra in config["options.extras_require"].values():
        lines += extra.splitlines()
    return [Requirement(line) for line in lines if line.strip()]


@pytest.mark.parametrize("requirement", requirements(), ids=str)
def test_every_dependency_is_capped_below_a_major_version(requirement: Requirement):
    uppers = [Version(spec.version) for spec in requirement.specifier if spec.operator == "<"]
    lowers = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert len(uppers) == 1 and len(lowers) == 1, f"{requirement}: give it >=oldest-supported,<next-major"
    assert uppers[0].release[1:] in ((), (0,)), f"{requirement}: the cap must be a major version (e.g. <5)"
    assert uppers[0].major > lowers[0].major or uppers[0].major == 1
