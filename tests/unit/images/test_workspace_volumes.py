"""images/workspace-volumes/driver.py: the protocol's answers, on image files in a temporary folder.
(Mounting is done by Docker through the installed plugin: tests/integration/test_containment.py.)"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

DRIVER = Path(__file__).parents[3] / "images" / "workspace-volumes" / "driver.py"
spec = importlib.util.spec_from_file_location("workspace_volumes_driver", DRIVER)
assert spec is not None and spec.loader is not None
driver = importlib.util.module_from_spec(spec)
spec.loader.exec_module(driver)


@pytest.fixture
def volumes(tmp_path):
    return driver.Volumes(tmp_path / "images", tmp_path / "mounts")


@pytest.fixture(autouse=True)
def folders(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "mounts").mkdir()


@pytest.mark.parametrize(
    ("text", "size"),
    [("16777216", 16 * 1024**2), ("16m", 16 * 1024**2), ("16MiB", 16 * 1024**2), ("10G", 10 * 1024**3)],
)
def test_sizes_are_bytes_or_a_number_with_a_unit(text, size):
    assert driver.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "1x", "-5", "1k", "2p"])
def test_a_size_that_is_no_size_or_too_small_is_refused(text):
    with pytest.raises(driver.VolumeError):
        driver.parse_size(text)


def test_a_volume_is_a_sparse_ext4_image_with_an_empty_root(volumes):
    assert driver.answer(volumes, "VolumeDriver.Create", {"Name": "ws-1", "Opts": {"size": "1G"}}) == {}

    image = volumes.image("ws-1")
    assert image.stat().st_size == 1024**3
    assert image.stat().st_blocks * 512 < 64 * 1024**2, "the image is sparse"
    listing = subprocess.run(["debugfs", "-R", "ls -l /", str(image)], capture_output=True, text=True).stdout
    assert "lost+found" not in listing, "an empty root, so that Docker copies the image's folder in"
    assert driver.answer(volumes, "VolumeDriver.Get", {"Name": "ws-1"}) == {
        "Volume": {"Name": "ws-1", "Status": {"size": 1024**3}}
    }
    assert driver.answer(volumes, "VolumeDriver.List", {}) == {
        "Volumes": [{"Name": "ws-1", "Status": {"size": 1024**3}}]
    }


def test_creating_a_volume_again_keeps_it(volumes):
    driver.answer(volumes, "VolumeDriver.Create", {"Name": "ws-1", "Opts": {"size": "16m"}})
    driver.answer(volumes, "VolumeDriver.Create", {"Name": "ws-1", "Opts": {"size": "32m"}})

    assert volumes.image("ws-1").stat().st_size == 16 * 1024**2


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        ({"Name": "ws-1", "Opts": {}}, "needs a size"),
        ({"Name": "ws-1", "Opts": {"size": "16m", "type": "nfs"}}, "unknown volume options: type"),
        ({"Name": "../escape", "Opts": {"size": "16m"}}, "not a Docker volume name"),
    ],
)
def test_a_bad_create_is_refused_and_leaves_nothing(volumes, request_, complaint):
    with pytest.raises(driver.VolumeError, match=complaint):
        driver.answer(volumes, "VolumeDriver.Create", request_)

    assert list(volumes.images.iterdir()) == []


def test_a_removed_volume_is_gone(volumes):
    driver.answer(volumes, "VolumeDriver.Create", {"Name": "ws-1", "Opts": {"size": "16m"}})
    driver.answer(volumes, "VolumeDriver.Remove", {"Name": "ws-1"})

    assert driver.answer(volumes, "VolumeDriver.List", {}) == {"Volumes": []}
    with pytest.raises(driver.VolumeError, match="no volume ws-1"):
        driver.answer(volumes, "VolumeDriver.Get", {"Name": "ws-1"})
    with pytest.raises(driver.VolumeError, match="no volume ws-1"):
        driver.answer(volumes, "VolumeDriver.Mount", {"Name": "ws-1", "ID": "c1"})


def test_the_plugin_says_what_it_implements():
    volumes = driver.Volumes(Path("/nonexistent"), Path("/nonexistent"))
    assert driver.answer(volumes, "Plugin.Activate", {}) == {"Implements": ["VolumeDriver"]}
    assert driver.answer(volumes, "VolumeDriver.Capabilities", {}) == {"Capabilities": {"Scope": "local"}}
    with pytest.raises(driver.VolumeError, match="unknown operation"):
        driver.answer(volumes, "VolumeDriver.Snapshot", {})
