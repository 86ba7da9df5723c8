"""The two branches of a PLCNN: residual and plain convolution blocks (old import path).

The blocks live in `protkit.layers.residual` and `protkit.layers.plain`; this module
re-exports them so that `from protkit.layers.plcnn_blocks import ResidualBlock` and saved
models that name this module keep working. Write `protkit.layers.ResidualBlock`.

A PLCNN runs two branches side by side on the same image: one made of
residual blocks, one of plain convolution blocks. After every stage the two
feature maps have the same height and width and are concatenated on the
channel axis. Each branch comes in a small (2 convolutions) and a large
(3 convolutions) block:

- R_s: `ResidualBlock(filters, num_convs=2)`, or `ResidualBlock.small(filters)`
- R_l: `ResidualBlock(filters, num_convs=3)`, or `ResidualBlock.large(filters)`
- P_s: `PlainBlock(filters, num_convs=2)`, or `PlainBlock.small(filters)`
- P_l: `PlainBlock(filters, num_convs=3)`, or `PlainBlock.large(filters)`

A residual block with `strides=2` and a plain block with `pool=True` both
turn a `height` of `h` into `ceil(h / 2)`, so their outputs can always be
concatenated.
"""

from protkit.layers.plain import PlainBlock
from protkit.layers.residual import ResidualBlock

__all__ = ["PlainBlock", "ResidualBlock"]
