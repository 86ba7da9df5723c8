"""Classifiers and generative models, built by name for the CLI and the training entry point."""

from protkit.models.baselines import traditional_cnn
from protkit.vocabulary import SINGLE_LABEL, output_activation

MODELS = ("fast_spec_cnn", "plcnn", "cnn", "resnet")


def build_model(name, input_shape, num_classes, task=SINGLE_LABEL, preset=None, **kwargs):
    """Build a classifier by name: "fast_spec_cnn", "plcnn", "cnn" (traditional CNN) or "resnet".

    ``preset`` names one of the model's own presets (`protkit.models.presets.MODEL_PRESETS`:
    the Fast Spec CNN's "cpu", its default, or "paper"); a model without presets takes None.
    Every model takes its own keyword arguments through ``kwargs``.
    """
    from protkit.models.presets import preset_for

    preset = preset_for(name, preset) if name in MODELS else None
    if name == "fast_spec_cnn":
        from protkit.models.fast_spec_cnn import fast_spec_cnn

        return fast_spec_cnn(input_shape, num_classes, task=task, preset=preset, **kwargs)
    if name == "plcnn":
        from protkit.models.plcnn import plcnn

        return plcnn(input_shape, num_classes, task=task, **kwargs)
    if name == "resnet":
        from protkit.models.resnet import resnet

        return resnet(input_shape, num_classes, task=task, **kwargs)
    if name == "cnn":
        return traditional_cnn(input_shape, num_classes, task=task, **kwargs)
    raise ValueError(f"unknown model; choose one of {MODELS}. Received: name={name!r}")


__all__ = ["MODELS", "build_model", "output_activation", "traditional_cnn"]
