"""The real public sets in ../shared/data load as their README says."""

import numpy as np
import pandas as pd
import pytest

from conftest import HEP2, HPA, IFC, requires
from protkit.data import HPA_CLASSES, Dataset, channel_files_by_id, make_pipeline

pytestmark = pytest.mark.real_data

HEP2_COUNTS = {"Centromere": 1791 + 463, "Golgi": 449 + 110, "Homogeneous": 1556 + 415,
               "NuMem": 1430 + 337, "Nucleolar": 1675 + 394, "Speckled": 1800 + 456}
IFC_COUNTS = {"Anaphase": 12, "G1": 720, "G2": 720, "Metaphase": 55, "Prophase": 485, "S_phase": 720, "Telophase": 22}


def hep2_part(part):
    return Dataset.from_csv(HEP2 / f"{part}_labels.csv", HEP2 / part, id_column="Image ID",
                            label_column="Image class", pattern="{id:05d}.png")


@requires(HEP2)
def test_hep2_training_and_validation_load_with_readme_counts():
    train, val = hep2_part("training"), hep2_part("validation")
    assert (len(train), len(val)) == (8701, 2175)
    both = Dataset.concatenate([train, val], names=["training", "validation"])
    assert len(both) == 10876 and both.task == "single_label"
    assert both.class_counts().to_dict() == HEP2_COUNTS
    image = both.read(0)
    assert image.shape == (78, 78, 1) and image.dtype == np.uint8
    assert sorted(set(both.groups)) == ["training", "validation"]


@requires(IFC)
def test_ifc_loads_three_channel_16bit_items():
    ifc = Dataset.from_folder(IFC, channels=["Ch3", "Ch4", "Ch6"])
    assert len(ifc) == 2734 and ifc.class_counts().to_dict() == IFC_COUNTS
    assert ifc.channel_names == ["Ch3", "Ch4", "Ch6"]
    first = ifc.items[0]
    assert [p.rsplit("_", 1)[1] for p in first] == ["Ch3.tif", "Ch4.tif", "Ch6.tif"]
    image = ifc.read(0)
    assert image.shape == (40, 40, 3) and image.dtype == np.uint16
    maxima = np.max([ifc.read(i).max() for i in range(0, len(ifc), 50)])
    assert maxima > 255  # 16-bit values are kept, not squashed to 8 bit
    x, y = next(iter(make_pipeline(ifc, batch_size=8, normalizer="fixed")))
    assert float(x.numpy().max()) * 65535 > 255


@requires(IFC)
def test_ifc_grouped_by_file_prefix():
    ifc = Dataset.from_folder(IFC, channels=["Ch3", "Ch4", "Ch6"]).with_groups(regex=r"^(CP\d+)_")
    assert set(ifc.groups) == {"CP0001", "CP0008", "CP0009"}


@requires(HPA)
def test_hpa_csv_parses_to_multi_hot_rows():
    table = pd.read_csv(HPA / "train.csv")
    ds = Dataset.from_csv(HPA / "train.csv", HPA / "train_sample", pattern="{id}_{channel}.png",
                          channels=["red", "green", "blue", "yellow"], class_names=HPA_CLASSES,
                          skip_bad=True, allow_empty=True)
    assert ds.source["rows"] == len(table) == 31072
    per_class = ds.source["rows_per_class"]
    assert len(per_class) == 28 and per_class["Nucleoplasm"] == 12885 and per_class["Rods & rings"] == 11
    # The sample holds one channel file per id, so no id is complete and every row is a counted skip.
    assert len(ds) == 0 and len(ds.skipped) == 31072
    # Multi-hot rows agree with the CSV text.
    labels = Dataset.from_csv(HPA / "train.csv", HPA / "train_sample", pattern="{id}_{channel}.png",
                              channels=["red", "green", "blue", "yellow"], skip_bad=True, allow_empty=True)
    assert labels.class_names == [str(i) for i in range(28)]
    assert labels.source["rows_per_class"]["0"] == 12885


@requires(HPA)
def test_hpa_sample_channel_files_group_by_id():
    groups = channel_files_by_id(HPA / "train_sample", ["red", "green", "blue", "yellow"])
    assert len(groups) == 200
    assert all(len(files) == 1 for files in groups.values())
    colours = pd.Series([next(iter(files)) for files in groups.values()]).value_counts().to_dict()
    assert colours == {"blue": 54, "green": 50, "red": 48, "yellow": 48}
    table = pd.read_csv(HPA / "train.csv").set_index("Id")
    assert all(stem in table.index for stem in groups)  # every file's id has a label row


@requires(HPA)
def test_hpa_image_is_512_8bit():
    groups = channel_files_by_id(HPA / "train_sample", ["green"])
    path = next(iter(groups.values()))["green"]
    from protkit.data import read_image

    image = read_image(path)
    assert image.shape == (512, 512, 1) and image.dtype == np.uint8
