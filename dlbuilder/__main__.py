"""`python -m dlbuilder ...`: see dlbuilder/cli.py."""

import sys

from dlbuilder.cli import main

sys.exit(main())
