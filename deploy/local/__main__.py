"""``python -m deploy.local start|stop|status|env|logs`` (from the repository root)."""

import sys

from deploy.local.cli import main

sys.exit(main())
