"""The layer registry: `LAYERS` maps the name stored in documents to its LayerType."""

from dlbuilder.layers.activations import ACTIVATION_LAYERS
from dlbuilder.layers.attention import CROSS_ATTENTION, POSITIONAL_ENCODING, SELF_ATTENTION
from dlbuilder.layers.base import CATEGORIES, LayerType, ShapeContext
from dlbuilder.layers.conv import AVGPOOL2D, CONV2D, GLOBAL_AVG_POOL, MAXPOOL2D
from dlbuilder.layers.core import DENSE, EMBEDDING, FLATTEN, INPUT, OUTPUT, RESHAPE
from dlbuilder.layers.merge import ADD, CONCAT
from dlbuilder.layers.recurrent import RECURRENT_LAYERS
from dlbuilder.layers.regularisation import BATCHNORM, DROPOUT, LAYERNORM

LAYERS: dict[str, LayerType] = {
    layer.name: layer
    for layer in (
        INPUT, OUTPUT, DENSE, FLATTEN, RESHAPE, EMBEDDING,
        *ACTIVATION_LAYERS.values(),
        CONV2D, MAXPOOL2D, AVGPOOL2D, GLOBAL_AVG_POOL,
        *RECURRENT_LAYERS.values(),
        POSITIONAL_ENCODING, SELF_ATTENTION, CROSS_ATTENTION,
        ADD, CONCAT,
        DROPOUT, BATCHNORM, LAYERNORM,
    )
}

__all__ = ["CATEGORIES", "LAYERS", "LayerType", "ShapeContext"]
