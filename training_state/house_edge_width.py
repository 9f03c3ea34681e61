"""Rough check (Session 26) of the edge-convention explanation of the house over-segmentation
(training_state/edge_volume_house.md): the house phantom's six test oocytes (data/train_phantom, seed 1, 6 x 4 x 24
frames of 400 x 400 x 31, datalist.json `testing`) rendered again with another width of the spindle's fall-off
around the same truth (OocytePhantom.edge_width_f; house default 0.035 in units of f, the randomized renderer's
median 0.074, quartiles 0.05-0.13). Same scenes, same true masks (ground_truth_masks, every frame), only the
intensity fall-off differs. Run from the project root:
    .venv/bin/python training_state/house_edge_width.py data/house_edge0.074 0.074
then benchmarks/generalization.py --families_dir DIR --no_real (one "family": exp).
"""
import sys
from pathlib import Path

sys.path.insert(0, "bundle")
from scripts.phantom import ExperimentParams, _generate_oocyte_job, run_jobs, write_dataset_tables  # noqa: E402

TEST_OOCYTES = [(0, 3), (1, 3), (2, 0), (3, 2), (4, 3), (5, 3)]  # (experiment, oocyte) indices of the testing list
out_dir, width = Path(sys.argv[1]), float(sys.argv[2])
jobs = [(str(out_dir), dict(experiment=ExperimentParams.draw(1, e), experiment_index=e, oocyte_index=k, n_frames=24,
                            shape_xyz=(400, 400, 31), spacing_um_xyz=(0.17, 0.17, 2.0), seed=1, edge_width_f=width),
         True, 10.0) for e, k in TEST_OOCYTES]
records = run_jobs(_generate_oocyte_job, jobs, workers=2)
write_dataset_tables(out_dir, records)
print(f"{out_dir}: {len(records)} oocytes, edge_width_f {width}")
