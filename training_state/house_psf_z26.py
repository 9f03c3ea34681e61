"""Rough (Session 26): does the house over-segmentation follow the axial PSF? The house phantom's six test oocytes
(as house_edge_width.py) rendered again with every experiment's axial PSF sigma pinned to one value (house range
1.2-1.8 um), same scenes and truth. Run from the project root:
    .venv/bin/python training_state/house_psf_z26.py data/house_psfz0.8 0.8
"""
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, "bundle")
from scripts.phantom import ExperimentParams, _generate_oocyte_job, run_jobs, write_dataset_tables  # noqa: E402

TEST_OOCYTES = [(0, 3), (1, 3), (2, 0), (3, 2), (4, 3), (5, 3)]  # (experiment, oocyte) indices of the testing list
out_dir, psf_z_um = Path(sys.argv[1]), float(sys.argv[2])
jobs = [(str(out_dir), dict(experiment=replace(ExperimentParams.draw(1, e), psf_sigma_z_um=psf_z_um), experiment_index=e,
                            oocyte_index=k, n_frames=24, shape_xyz=(400, 400, 31), spacing_um_xyz=(0.17, 0.17, 2.0),
                            seed=1), True, 10.0) for e, k in TEST_OOCYTES]
records = run_jobs(_generate_oocyte_job, jobs, workers=2)
write_dataset_tables(out_dir, records)
print(f"{out_dir}: {len(records)} oocytes, axial PSF sigma {psf_z_um} um")
