"""Building blocks: state preparations and block encodings as Cirq circuits.

``from qlower.blocks import amplitude_encoding, block_encoding``.
"""

from qlower.blocks.base import Block, Registers, readout
from qlower.blocks.circuits import Resources, count_resources

__all__ = ["Block", "Registers", "Resources", "count_resources", "readout"]
