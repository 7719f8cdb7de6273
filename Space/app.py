"""Start the hf-fair Space from a checkout: ``python Space/app.py [--run runs/demo] [--port 7860]``.

The app is ``hf_fair.space.app``; ``hf-fair space build`` writes a deployable folder with this
same launcher, the library and a run (see Space/README.md).
"""

import sys
from pathlib import Path

try:  # installed (pip install -e ".[space]")
    import hf_fair  # noqa: F401
except ImportError:  # a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hf_fair.space.app import main  # noqa: E402

if __name__ == "__main__":
    main()
