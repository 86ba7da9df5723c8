"""ONNX export (`protkit.export`): every classifier, the FFT layer's real-valued transform, the CLI."""

import json
import os

import numpy as np
import pytest

from protkit.data import Dataset, load_images
from protkit.layers import FFTSpectrum


def _needs_export_extra():
    """Skip without the export extra, except under CI=true, where a missing extra is a failure."""
    if os.environ.get("CI") == "true":
        return
    for name in ("onnx", "onnxruntime", "tf2onnx", "bioimageio.spec"):
        pytest.importorskip(name, reason='the export extra: pip install -e ".[export]"')


def test_the_matmul_transform_gives_the_fft_spectrum():
    x = np.random.default_rng(0).random((2, 15, 16, 3)).astype(np.float32)  # odd and even sides
    for options in ({"mode": "dual"}, {"normalize": True}, {"include_phase": True}):
        fast = np.asarray(FFTSpectrum(**options)(x))
        products = np.asarray(FFTSpectrum(transform="matmul", **options)(x))
        difference = np.abs(fast - products)
        if options.get("include_phase"):  # phases of +pi and -pi are one angle
            difference[..., 3:] = np.minimum(difference[..., 3:], 2 * np.pi - difference[..., 3:])
        assert difference.max() < 1e-4, options
    reference = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(x[0, ..., 0]))))
    assert np.allclose(np.asarray(FFTSpectrum(transform="matmul")(x))[0, ..., 0], reference, atol=1e-4)
    assert FFTSpectrum.from_config(FFTSpectrum(transform="matmul").get_config()).transform == "matmul"
    with pytest.raises(ValueError, match="transform"):
        FFTSpectrum(transform="dft")


@pytest.fixture(scope="module")
def cells():
    rng = np.random.default_rng(0)
    images = rng.random((40, 16, 16, 2)).astype(np.float32)
    labels = np.arange(40) % 2
    images[labels == 1, 4:12, 4:12, 0] += 1.0
    return Dataset.from_arrays(images, labels=labels, class_names=["dim", "bright"])


@pytest.mark.parametrize("model, options", [
    ("fast_spec_cnn", {"model_kwargs": {"filters": (8,), "stem_filters": 4, "num_heads": 1, "key_dim": 4,
                                        "hidden_units": 8}}),
    ("resnet", {"model_kwargs": {"stages": (1, 1), "width": 4}}),
    ("convnext", {"model_kwargs": {"stages": (1, 1), "width": 8}}),
    ("fast_spec_cnn", {"model_kwargs": {"spectral": "global_filter", "filters": (8,), "stem_filters": 4,
                                        "num_heads": 1, "key_dim": 4, "hidden_units": 8}}),
    ("cnn", {"model_kwargs": {"filters": (4,), "hidden_units": 4}}),
    ("plcnn", {"model_kwargs": {"filters": (4, 8), "hidden_units": 8}}),
    ("dcae_mlp", {"model_kwargs": {"autoencoder_epochs": 1, "head_epochs": 2, "latent_dim": 4, "filters": (4, 8),
                                   "hidden": (8,)}}),
])
def test_every_classifier_exports_to_onnx_and_matches_keras(tmp_path, cells, model, options):
    _needs_export_extra()
    import onnxruntime

    from protkit.export import export_onnx, load_sidecar
    from protkit.inference import load_run
    from protkit.training import train

    train(cells, model=model, image_size=16, epochs=1, out=tmp_path / "run", verbose=0, **options)
    run = load_run(tmp_path / "run")
    images = load_images(cells, np.arange(12), image_size=16, normalizer=run.normalizer)
    record = export_onnx(tmp_path / "run", tmp_path / "model.onnx", images=images)
    assert record["max_abs_difference"] <= 1e-4 and load_sidecar(tmp_path / "model.onnx") == record
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {record["input_name"]: images})[0]
    np.testing.assert_allclose(onnx_out, run.model.predict(images, verbose=0), atol=1e-4)
    assert record["class_names"] == ["dim", "bright"] and record["input_shape"] == [None, 16, 16, 2]
    with pytest.raises(FileExistsError):
        export_onnx(tmp_path / "run", tmp_path / "model.onnx")


def test_cli_export_writes_the_model_and_its_sidecar(tmp_path, cells, capsys):
    _needs_export_extra()
    from protkit.cli import main
    from protkit.training import train

    train(cells, model="cnn", image_size=16, epochs=1, out=tmp_path / "run", verbose=0,
          model_kwargs={"filters": (4,), "hidden_units": 4})
    assert main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "agree to" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "m.onnx.json").read_text())
    assert sidecar["normalization"]["mode"] == "percentile" and sidecar["test_time_augmentation"] == "dihedral"
    assert main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "m.onnx")]) == 2  # no overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_a_hep2_run_exports_as_a_bioimageio_package_that_validates_and_reproduces_its_test_output(tmp_path, capsys):
    """A run trained through the CLI on a real HEp-2 subset: the package validates with bioimageio.spec, and its
    ONNX weights on its test input (with the preprocessing rdf.yaml states) give its test output."""
    _needs_export_extra()
    import zipfile

    import onnxruntime
    from bioimageio.spec import load_description
    from conftest import HEP2

    from protkit.cli import main
    from protkit.data import Normalizer

    if not HEP2.exists():
        pytest.skip(f"real data not found at {HEP2}")
    subset = tmp_path / "hep2.csv"
    rows = (HEP2 / "training_labels.csv").read_text().splitlines()
    subset.write_text("\n".join(rows[:1] + rows[1::145]) + "\n")
    assert main(["train", str(HEP2 / "training"), "--labels", str(subset), "--id-column", "Image ID",
                 "--label-column", "Image class", "--pattern", "{id:05d}.png", "--model", "cnn", "--epochs", "1",
                 "--image-size", "32", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    package = tmp_path / "hep2_model.zip"
    assert main(["export", str(tmp_path / "run"), "--bioimageio", str(package), "--onnx", str(tmp_path / "m.onnx"),
                 "--author", "A. Tester"]) == 0
    assert "validated by bioimageio.spec" in capsys.readouterr().out
    description = load_description(package, perform_io_checks=True)
    assert description.validation_summary.status in ("passed", "valid-format"), description.validation_summary
    assert [author.name for author in description.authors] == ["A. Tester"]
    with zipfile.ZipFile(package) as archive:
        assert {"rdf.yaml", "model.onnx", "tf_saved_model.zip", "test_input.npy", "test_output.npy", "cover.png",
                "README.md"} <= \
            set(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    import ruyaml  # bioimageio.spec's YAML reader (the package's rdf.yaml is written by bioimageio.spec)

    rdf = ruyaml.YAML(typ="safe").load((tmp_path / "unpacked" / "rdf.yaml").read_text())
    assert rdf["inputs"][0]["preprocessing"][1]["id"] == "scale_range"  # the run's percentile normalization
    assert [axis["type"] for axis in rdf["inputs"][0]["axes"]] == ["batch", "space", "space", "channel"]
    raw = np.load(tmp_path / "unpacked" / "test_input.npy")
    expected = np.load(tmp_path / "unpacked" / "test_output.npy")
    low, high = rdf["inputs"][0]["preprocessing"][1]["kwargs"]["min_percentile"], \
        rdf["inputs"][0]["preprocessing"][1]["kwargs"]["max_percentile"]
    prepared = np.stack([Normalizer("percentile", percentiles=(low, high))(image) for image in raw]).astype(np.float32)
    session = onnxruntime.InferenceSession(str(tmp_path / "unpacked" / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: prepared})[0], expected, atol=1e-4)


def test_a_missing_extra_is_a_clear_error(monkeypatch):
    import importlib.util

    from protkit import extras

    real = importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "tf2onnx" else real(name))
    with pytest.raises(extras.MissingExtraError, match=r'ONNX export needs tf2onnx: pip install -e "\.\[export\]"'):
        from protkit.export import check_export_packages

        check_export_packages()
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "bioio" else real(name))
    from protkit.data.bioformats import scenes

    with pytest.raises(extras.MissingExtraError, match=r'needs bioio: pip install -e "\.\[formats\]"'):
        scenes("cells.ome.tif")
