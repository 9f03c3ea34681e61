"""Session 33: benchmarks/generalization.py's family rows from an evaluation folder that already exists (an
`evaluating` run of the shipped defaults on a renderer-family set), without evaluating again.
usage from the project root: .venv/bin/python training_state/s33/family_table.py DATASET_DIR EVAL_DIR"""
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
from generalization import family_scores, table_row  # noqa: E402

dataset_dir, eval_dir = Path(sys.argv[1]), Path(sys.argv[2])
for family, scores in sorted(family_scores(dataset_dir, eval_dir).items()):
    print(table_row(f"renderer family `{family}`", scores), flush=True)
