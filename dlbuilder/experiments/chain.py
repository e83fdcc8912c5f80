"""A plain Dense chain read as hidden blocks, edited (depth, widths, dropout, batch norm) and rebuilt.

A chain is Input -> [Flatten] -> block ... -> Output, where each block is one Dense layer followed by,
in this order, an optional BatchNorm, an optional activation layer and an optional Dropout. The sweep
axes that change the network's structure act on these blocks; any other layer (a convolution, a
merge, a branch) makes the network "not a plain chain" and the error names it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from dlbuilder.document import Document, Edge, Node
from dlbuilder.editing import COLUMN, auto_layout, new_node_id
from dlbuilder.layers import LAYERS
from dlbuilder.layers.base import ACTIVATIONS
from dlbuilder.params import fill_defaults

PREFIX_TYPES = ("flatten",)  # allowed between the Input and the first Dense (images into an MLP)
FOLLOWERS = ("batchnorm", "activation", "dropout")  # their order inside a block
MAX_HIDDEN_LAYERS = 8
MAX_WIDTH = 1024


class ChainError(ValueError):
    """The network is not a plain Dense chain (or the edit cannot be made); the message says why."""


@dataclass
class Block:
    """One hidden layer: a Dense node's params, then optional BatchNorm, activation layer and Dropout."""

    dense: dict
    batchnorm: dict | None = None
    activation: tuple[str, dict] | None = None  # an activation *layer* (type, params) after Dense or BatchNorm
    dropout: float = 0.0


@dataclass
class Chain:
    """The parts of a plain chain: the Input and Output params, a prefix (Flatten) and the blocks."""

    input: dict
    output: dict
    prefix: list[tuple[str, dict]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(block.dense["units"] for block in self.blocks)


def _order(document: Document) -> list[str]:
    """Node ids from the Input to the Output when the network is one unbranched path, else ChainError."""
    inputs = [n.id for n in document.nodes if n.type == "input"]
    outputs = [n.id for n in document.nodes if n.type == "output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ChainError(f"the network has {len(inputs)} inputs and {len(outputs)} outputs, not one of each")
    following: dict[str, str] = {}
    for edge in document.edges:
        if edge.source in following or len(document.incoming(edge.target)) != 1:
            raise ChainError(f"{edge.target if edge.source not in following else edge.source} branches or merges")
        following[edge.source] = edge.target
    order = [inputs[0]]
    while order[-1] in following and len(order) <= len(document.nodes):
        order.append(following[order[-1]])
    if order[-1] != outputs[0] or len(order) != len(document.nodes):
        raise ChainError("not every layer lies on one path from the Input to the Output")
    return order


def parse_chain(document: Document) -> Chain:
    """The network as a Chain; ChainError naming the first layer that does not fit."""
    order = _order(document)
    nodes = [document.node(node_id) for node_id in order]
    chain = Chain(input=dict(nodes[0].params), output=dict(nodes[-1].params))
    for node in nodes[1:-1]:
        kind = "activation" if node.type in ACTIVATIONS else node.type
        if node.type == "dense":
            chain.blocks.append(Block(dict(node.params)))
        elif not chain.blocks and node.type in PREFIX_TYPES:
            chain.prefix.append((node.type, dict(node.params)))
        elif chain.blocks and kind in FOLLOWERS and _fits(chain.blocks[-1], kind, node.type):
            _attach(chain.blocks[-1], kind, node)
        else:
            raise ChainError(f"{node.id} ({node.type}) does not fit a plain chain of Dense layers "
                             "(each may be followed by BatchNorm, an activation and Dropout, in that order)")
    return chain


def _fits(block: Block, kind: str, layer_type: str) -> bool:
    """Whether `kind` may come next in `block`: followers appear at most once and in FOLLOWERS order."""
    present = [name for name, value in (("batchnorm", block.batchnorm), ("activation", block.activation),
                                         ("dropout", block.dropout or None)) if value is not None]
    later = FOLLOWERS[FOLLOWERS.index(kind):]
    return not any(name in later for name in present)


def _attach(block: Block, kind: str, node) -> None:
    if kind == "batchnorm":
        block.batchnorm = dict(node.params)
    elif kind == "activation":
        block.activation = (node.type, dict(node.params))
    else:
        block.dropout = float(node.params["p"])


# -- edits (on a Chain, in place) -----------------------------------------------------------------------


def set_depth(chain: Chain, depth: int) -> None:
    """Keep the first `depth` hidden blocks, or repeat the last one until there are `depth`."""
    if not chain.blocks:
        chain.blocks.append(Block({"units": 8, "activation": "relu", "bias": True}))
    while len(chain.blocks) < depth:
        chain.blocks.append(copy.deepcopy(chain.blocks[-1]))
    del chain.blocks[depth:]


def set_width(chain: Chain, width: int) -> None:
    """Every hidden layer `width` units wide."""
    for block in chain.blocks:
        block.dense["units"] = int(width)


def set_widths(chain: Chain, widths: tuple[int, ...]) -> None:
    """One hidden layer per width, in order (the depth follows the list)."""
    set_depth(chain, len(widths))
    for block, width in zip(chain.blocks, widths):
        block.dense["units"] = int(width)


def set_dropout(chain: Chain, p: float) -> None:
    """A Dropout of probability p after every hidden layer (0 removes them)."""
    for block in chain.blocks:
        block.dropout = float(p)


def set_batchnorm(chain: Chain, on: bool) -> None:
    """BatchNorm between each Dense and its non-linearity (on), or none (off)."""
    for block in chain.blocks:
        if on and block.batchnorm is None:
            if block.activation is None and _dense_activation(block) != "identity":
                block.activation = (_dense_activation(block), {})
            block.dense["activation"] = "identity"
            block.batchnorm = {}
        elif not on and block.batchnorm is not None:
            block.batchnorm = None
            if block.activation and not block.activation[1] and _dense_activation(block) == "identity":
                block.dense["activation"], block.activation = block.activation[0], None


def _dense_activation(block: Block) -> str:
    return block.dense.get("activation", "relu")


# -- back to a document -------------------------------------------------------------------------------------


def chain_layers(chain: Chain) -> list[tuple[str, dict]]:
    """(layer type, params) from Input to Output."""
    layers = [("input", chain.input), *chain.prefix]
    for block in chain.blocks:
        layers.append(("dense", block.dense))
        if block.batchnorm is not None:
            layers.append(("batchnorm", block.batchnorm))
        if block.activation and block.activation[0] != "identity":
            layers.append(block.activation)
        if block.dropout > 0:
            layers.append(("dropout", {"p": block.dropout}))
    return layers + [("output", chain.output)]


def rebuild(document: Document, chain: Chain) -> Document:
    """`document` with its network replaced by `chain` (data, training settings and seed kept).

    Nodes are named and filled in as the editor's `add_node` does (dense1, bn1, ...; defaults filled), but
    built in one pass: add_node and connect copy the whole document per call (~3 ms each, 2 s a 64-run sweep).
    """
    result = Document(nodes=[], edges=[], name=document.name, description=document.description,
                      data=copy.deepcopy(document.data), training=dict(document.training), seed=document.seed)
    for column, (layer_type, params) in enumerate(chain_layers(chain)):
        node_id = new_node_id(result, layer_type)
        if result.nodes:
            result.edges.append(Edge(result.nodes[-1].id, node_id, 0))
        result.nodes.append(Node(node_id, layer_type, fill_defaults(LAYERS[layer_type].params, copy.deepcopy(params)),
                                 (column * COLUMN, 0.0)))
    return auto_layout(result)


def describe_widths(widths: tuple[int, ...]) -> str:
    """Hidden layer widths as a student reads them: "16-16-16" (or "none")."""
    return "-".join(str(w) for w in widths) or "none"
