"""The op dialects: ``onnx.*`` (ops as imported) and ``nn.*`` (the canonical layer ops).

Importing this package registers every op. A new dialect is a module here that declares its
ops with ``@register_op`` (and its types with ``@register_type``).
"""

from qlower.ir.dialects import (  # noqa: F401
    attention,
    comparison,
    conv,
    dropout,
    elementwise,
    gathers,
    indexing,
    linalg,
    losses,
    quantum,
    quantum_amplify,
    quantum_attention,
    quantum_losses,
    quantum_select,
    quantum_softmax,
    quantum_variational,
    reductions,
    reshape,
    sequences,
    strategies,  # noqa: F401, E402  (after every op is registered)
    variadic,
)
