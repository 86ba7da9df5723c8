"""Classifiers and generative models, built by name for the CLI and the training entry point.

Importing this package loads no TensorFlow: `MODELS` and `protkit.models.presets` are plain
Python, so the command line can list them quickly; a model's module loads when it is built.
"""

import importlib

from protkit.vocabulary import SINGLE_LABEL, output_activation

# name -> (module, builder); the Fast Spec CNN's builder reads its preset itself, the ResNet's preset is
# expanded into its keyword arguments here.
_BUILDERS = {
    "fast_spec_cnn": ("protkit.models.fast_spec_cnn", "fast_spec_cnn"),
    "plcnn": ("protkit.models.plcnn", "plcnn"),
    "cnn": ("protkit.models.baselines", "traditional_cnn"),
    "resnet": ("protkit.models.resnet", "resnet"),
    "se_resnet": ("protkit.models.resnet", "se_resnet"),
    "convnext": ("protkit.models.convnext", "convnext"),
    "dcae_mlp": ("protkit.models.dcae_mlp", "dcae_mlp"),
}
MODELS = tuple(_BUILDERS)


def build_model(name, input_shape, num_classes, task=SINGLE_LABEL, preset=None, **kwargs):
    """Build a classifier by name: "fast_spec_cnn", "plcnn", "cnn" (traditional CNN), "resnet", "se_resnet"
    (squeeze-and-excitation in every block), "convnext" or "dcae_mlp" (untrained; `protkit.training.train`
    pretrains its autoencoder first).

    ``preset`` names one of the model's own presets (`protkit.models.presets.MODEL_PRESETS`:
    the Fast Spec CNN's "cpu", its default, or "paper"; the ResNet's "small", its default); a
    model without presets takes None. Every model takes its own keyword arguments through
    ``kwargs``; they win over the preset's.
    """
    from protkit.models.presets import get_preset, preset_for, split_preset

    if name not in _BUILDERS:
        raise ValueError(f"unknown model; choose one of {MODELS}. Received: name={name!r}")
    preset = preset_for(name, preset)
    module, builder = _BUILDERS[name]
    build = getattr(importlib.import_module(module), builder)
    if preset is not None and name == "fast_spec_cnn":
        kwargs["preset"] = preset
    elif preset is not None:
        preset_keys = split_preset(get_preset(preset))[0]
        if "stages" in kwargs:  # explicit stages replace the preset's depth (the two are alternatives)
            preset_keys.pop("depth", None)
        kwargs = dict(preset_keys, **kwargs)
    return build(input_shape, num_classes, task=task, **kwargs)


def __getattr__(name):
    if name == "traditional_cnn":  # the baseline, re-exported here as before
        from protkit.models.baselines import traditional_cnn

        return traditional_cnn
    raise AttributeError(f"module 'protkit.models' has no attribute {name!r}")


__all__ = ["MODELS", "build_model", "output_activation", "traditional_cnn"]
