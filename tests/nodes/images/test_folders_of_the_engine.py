"""LoadImage and SaveImage validate and act on the same folders: those of the engine calling them, set apart from the
default layout, while another engine over another installation lives in the same process."""
from __future__ import annotations

import os

import pytest
from PIL import Image

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry


@pytest.fixture
def ours(tmp_path) -> Engine:
    """An installation whose input and output folders are not under its base folder."""
    folders = Folders.under(tmp_path / "base", input=tmp_path / "pictures", output=tmp_path / "renders")
    folders.create()
    Image.new("RGB", (3, 2), (255, 0, 0)).save(folders.input / "red.png")
    return Engine(builtin_registry(folders), folders)


@pytest.fixture
def neighbour(tmp_path) -> Engine:
    """Another installation in the same process, laid out by default."""
    folders = Folders.under(tmp_path / "other")
    folders.create()
    Image.new("RGB", (5, 4), (0, 0, 255)).save(folders.input / "blue.png")
    return Engine(builtin_registry(folders), folders)


def load_and_save(image: str, prefix: str) -> dict:
    return {"load": {"class_type": "LoadImage", "inputs": {"image": image}},
            "save": {"class_type": "SaveImage", "inputs": {"images": ["load", 0], "filename_prefix": prefix}}}


def files_under(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_load_image_lists_checks_and_reads_the_input_folder_of_its_engine(ours, neighbour):
    listed = {name: engine.object_info()["LoadImage"]["input"]["required"]["image"][0]
              for name, engine in (("ours", ours), ("neighbour", neighbour))}
    assert listed == {"ours": ["red.png"], "neighbour": ["blue.png"]}
    (refused,) = ours.validate(load_and_save("blue.png", "x")).node_errors["load"].errors
    assert "'blue.png' is not in the input folder" in refused.details
    assert str(ours.folders.input) in refused.details

    result = ours.run(load_and_save("red.png", "shots/red"))
    assert result.ok, result.error
    (saved,) = result.outputs["save"]["images"]
    with Image.open(ours.folders.output / "shots" / saved["filename"]) as png:
        assert png.size == (3, 2) and png.getpixel((0, 0)) == (255, 0, 0)  # red.png from our input folder
    assert files_under(neighbour.folders.output) == [] and not (ours.folders.base / "output").exists()


def test_save_image_checks_its_prefix_against_the_output_folder_it_writes_to(ours, neighbour, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, ours.folders.output / "away")  # leads out of our output folder
    (neighbour.folders.output / "away").mkdir()  # a plain subfolder in the neighbour's

    (refused,) = ours.validate(load_and_save("red.png", "away/red")).node_errors["save"].errors
    assert "outside the output folder" in refused.details
    assert neighbour.validate(load_and_save("blue.png", "away/blue")).ok

    result = neighbour.run(load_and_save("blue.png", "away/blue"))
    assert result.ok, result.error
    assert files_under(neighbour.folders.output) == ["away/blue_00001_.png"]
    assert files_under(elsewhere) == [] and files_under(ours.folders.output) == []
