"""``python -m hf_fair <command> ...`` runs the ``hf-fair`` dispatcher (as ``python -m hf_fair.cli`` does)."""

import sys

from hf_fair.cli import main

sys.exit(main())
