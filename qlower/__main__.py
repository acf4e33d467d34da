"""``python -m qlower``: the same as the ``qlower`` command."""

import sys

from qlower.cli import main

if __name__ == "__main__":
    sys.exit(main())
