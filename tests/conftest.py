import os
import sys
from pathlib import Path

import pytest

# Tests never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def digits():
    from hf_fair.data.colored_digits import load_colored_digits

    return load_colored_digits()
