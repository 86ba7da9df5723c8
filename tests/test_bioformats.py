"""Microscope files through bioio (`protkit.data.bioformats`): OME-TIFF with named channels, a multi-position
OME-TIFF and multi-position OME-Zarr stores; the files are written by the tests themselves."""

import os

import numpy as np
import pandas as pd
import pytest


def _needs_formats_extra():
    """Skip without the formats extra, except under CI=true, where a missing extra is a failure."""
    if os.environ.get("CI") == "true":
        return
    for name in ("bioio", "bioio_ome_tiff", "bioio_ome_zarr"):
        pytest.importorskip(name, reason='the formats extra: pip install -e ".[formats]"')


CHANNELS = ["DAPI", "GFP", "Actin"]


def _cell(kind, rng, size=24):
    """(C, Z, Y, X) uint16: DAPI noise everywhere; GFP bright in the middle for "nuclear", at the rim for "membrane"."""
    data = rng.integers(50, 200, size=(3, 1, size, size)).astype(np.uint16)
    if kind == "nuclear":
        data[1, 0, 8:16, 8:16] += 3000
    else:
        data[1, 0, :3, :] += 3000
        data[1, 0, -3:, :] += 3000
    return data


def _write_ome_tiff(path, scenes, pixel_um=0.5):
    from bioio.writers import OmeTiffWriter
    from bioio_base.types import PhysicalPixelSizes

    path.parent.mkdir(parents=True, exist_ok=True)
    sizes = PhysicalPixelSizes(1.0, pixel_um, pixel_um)
    OmeTiffWriter.save(scenes if len(scenes) > 1 else scenes[0], path, dim_order="CZYX",
                       channel_names=[CHANNELS] * len(scenes) if len(scenes) > 1 else CHANNELS,
                       physical_pixel_sizes=[sizes] * len(scenes) if len(scenes) > 1 else sizes)


def _write_ome_zarr(path, scenes):
    """An OME-Zarr store with one position per entry of ``scenes`` (each (C, Z, Y, X)): every position an
    image of its own in a subgroup, all listed in the root's multiscales metadata (the positions a reader sees)."""
    import json

    import zarr
    from bioio_ome_zarr.writers import Channel, OMEZarrWriter

    listed, omero = [], None
    for index, data in enumerate(scenes):
        name = f"P{index}"
        writer = OMEZarrWriter(str(path / name), level_shapes=[(1,) + data.shape], dtype=data.dtype,
                               channels=[Channel(label=channel, color="FFFFFF") for channel in CHANNELS],
                               axes_names=["t", "c", "z", "y", "x"],
                               axes_types=["time", "channel", "space", "space", "space"], image_name=name)
        writer.write_full_volume(data[None])
        meta = json.loads(json.dumps(dict(zarr.open_group(str(path / name), mode="r").attrs)["ome"]))
        omero = meta["omero"]
        image = meta["multiscales"][0]
        image["datasets"] = [dict(level, path=f"{name}/{level['path']}") for level in image["datasets"]]
        listed.append(image)
    zarr.open_group(str(path), mode="a").attrs["ome"] = {"version": "0.5", "multiscales": listed, "omero": omero}


@pytest.fixture(scope="module")
def microscope_folder(tmp_path_factory):
    _needs_formats_extra()
    root = tmp_path_factory.mktemp("microscope") / "cells"
    rng = np.random.default_rng(0)
    for kind in ("nuclear", "membrane"):
        for i in range(10):
            _write_ome_tiff(root / kind / f"{kind}{i:02d}.ome.tif", [_cell(kind, rng)])
        # one file with three positions (scenes): three items of one group
        _write_ome_tiff(root / kind / f"{kind}_plate.ome.tif", [_cell(kind, rng) for _ in range(3)])
        _write_ome_zarr(root / kind / f"{kind}_store.ome.zarr", [_cell(kind, rng) for _ in range(2)])  # 2 positions
    return root


def test_microscope_files_become_items_with_named_channels_and_file_groups(microscope_folder):
    from protkit.data import Dataset, load_images
    from protkit.data.bioformats import parse_reference

    dataset = Dataset.from_folder(microscope_folder, channels=["GFP", "DAPI"])
    assert len(dataset) == 2 * (10 + 3 + 2) and dataset.channel_names == ["GFP", "DAPI"]
    plate = [i for i, item in enumerate(dataset.items) if "nuclear_plate" in item[0]]
    assert len(plate) == 3 and len({dataset.groups[i] for i in plate}) == 1  # positions of one file: one group
    assert len(set(dataset.groups)) == 2 * (10 + 1 + 1)
    assert parse_reference(dataset.items[plate[1]][0])[2] == ["GFP", "DAPI"]
    image = dataset.read(plate[0])
    assert image.shape == (24, 24, 2) and image.dtype == np.uint16
    assert image[8:16, 8:16, 0].mean() > 2000 > image[8:16, 8:16, 1].mean()  # GFP first, as asked
    store = [i for i, item in enumerate(dataset.items) if item[0].split("::")[0].endswith(".ome.zarr")]
    assert len(store) == 4 and load_images(dataset, store, image_size=24).shape == (4, 24, 24, 2)
    assert len({dataset.groups[i] for i in store}) == 2  # two stores, two positions each
    everything = Dataset.from_folder(microscope_folder)  # no names: every channel, named by the metadata
    assert everything.channel_names == CHANNELS and everything.read(0).shape[-1] == 3
    from protkit.data.datasets import DataError
    from protkit.data.readers import ImageReadError

    with pytest.raises((DataError, ImageReadError), match=r"'Tubulin'.*its channels are \['DAPI', 'GFP', 'Actin'\]"):
        Dataset.from_folder(microscope_folder, channels=["GFP", "Tubulin"])


def test_cli_trains_and_predicts_on_ome_tiff_and_ome_zarr_with_channels_by_name(microscope_folder, tmp_path):
    from protkit.cli import main

    run = tmp_path / "run"
    assert main(["train", str(microscope_folder), "--channels", "GFP,DAPI", "--model", "cnn", "--epochs", "30", "--batch-size", "8",
                 "--image-size", "24", "--out", str(run), "--quiet"]) == 0
    import json

    config = json.loads((run / "config.json").read_text())
    assert config["channel_names"] == ["GFP", "DAPI"] and config["groups"] is True  # split by file
    assert config["pixel_size_um"]["x"] == pytest.approx(0.5)  # kept from the files' metadata
    assert main(["predict", str(run), str(microscope_folder), "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv")
    assert len(table) == 30 and table["path"].str.contains("::").all()
    truth = table["id"].str.split("/").str[0]
    assert (table["predicted"] == truth).mean() >= 0.8  # GFP in the middle vs at the rim is learnt


def test_predict_says_when_channels_or_pixel_sizes_differ_from_the_run(microscope_folder, tmp_path, capsys):
    from protkit.cli import main

    rng = np.random.default_rng(3)
    for kind in ("nuclear", "membrane"):
        for i in range(2):
            _write_ome_tiff(tmp_path / "new" / kind / f"n{i}.ome.tif", [_cell(kind, rng)], pixel_um=0.25)
    run = tmp_path / "run"
    assert main(["train", str(microscope_folder), "--channels", "GFP,DAPI", "--model", "cnn", "--epochs", "1",
                 "--image-size", "24", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "new"), "--out", str(tmp_path / "p.csv")]) == 0
    printed = capsys.readouterr().out
    assert "pixel size along x: 0.5 um in the run's data, 0.25 um here" in printed
    assert main(["predict", str(run), str(tmp_path / "new"), "--channels", "GFP,Actin", "--out",
                 str(tmp_path / "q.csv")]) == 0
    assert "channels: the run was trained on ['GFP', 'DAPI'], the data names ['GFP', 'Actin']" in capsys.readouterr().out


def test_a_z_stack_is_a_volume_for_3d_models_and_its_maximum_projection_for_2d(tmp_path):
    _needs_formats_extra()
    from protkit.data import Dataset
    from protkit.data.readers import read_volume

    rng = np.random.default_rng(5)
    stack = rng.integers(0, 100, size=(3, 4, 16, 16)).astype(np.uint16)  # C, Z, Y, X
    stack[1, 2, 5, 5] = 4000  # one bright voxel of GFP, in plane 2
    _write_ome_tiff(tmp_path / "cells" / "a" / "stack.ome.tif", [stack])
    _write_ome_tiff(tmp_path / "cells" / "b" / "other.ome.tif", [stack // 2])
    dataset = Dataset.from_folder(tmp_path / "cells", channels=["GFP"])
    volume = read_volume(dataset.items[0][0])
    assert volume.shape == (4, 16, 16, 1) and volume[2, 5, 5, 0] == 4000
    np.testing.assert_array_equal(dataset.read(0), volume.max(axis=0))  # 2D: the maximum over Z
