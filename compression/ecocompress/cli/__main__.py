"""``python -m ecocompress.cli``: the same as the ``ecocompress`` command."""

import sys

from ecocompress.cli import main

sys.exit(main())
