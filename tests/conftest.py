import sys
from pathlib import Path

# Test helpers (reference implementation, golden reader) are plain modules beside the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import os
import tempfile

# Commands track to MLflow by default; the suite's runs go to a store of its own, never the
# user's ~/.local/share/dwcp-ml. Subprocesses inherit it.
os.environ.setdefault("DWCP_ML_TRACKING_DIR", tempfile.mkdtemp(prefix="dwcp-ml-tracking-"))
