"""Building blocks: state preparations and block encodings as Cirq circuits.

``from qlower.blocks import amplitude_encoding, block_encoding``: each returns a :class:`Block`
with ``.circuit`` (a ``cirq.Circuit``, every parameter resolved unless built symbolically),
``.alpha``, ``.registers`` (input, output and flag qubits) and ``.resources()``.
"""

from qlower.blocks.amplitude import AmplitudeEncoding, ZeroVectorError, amplitude_encoding
from qlower.blocks.base import Block, Registers, readout
from qlower.blocks.block_encoding import BlockEncoding, block_encoding, choose_method
from qlower.blocks.circuits import Resources, count_resources

__all__ = [
    "AmplitudeEncoding", "Block", "BlockEncoding", "Registers", "Resources", "ZeroVectorError",
    "amplitude_encoding", "block_encoding", "choose_method", "count_resources", "readout",
]
