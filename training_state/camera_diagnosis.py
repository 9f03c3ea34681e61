"""Rough diagnosis (Session 26): is heldout_camera's failure the photon level or the EMCCD noise model?

Two throwaway renderer families beside the real ones (the project's FAMILIES are not changed):
- diag_dim_scmos: the training family's ranges, but heldout_camera's photon budget (1-4 e-) and read noise
  (0.05-0.3 e-), on the training sCMOS camera model;
- diag_emccd_bright: heldout_camera's EMCCD model and read noise at the training photon budget (4-300 e-).
Written with seed 202, family indices as in families202 (train=0, heldout_camera=3), so that the scenes' geometry
matches families202's `train` oocytes where the spawn keys agree. Run from the project root:
    .venv/bin/python training_state/camera_diagnosis.py data/camera_diag
"""
import sys
from dataclasses import replace

sys.path.insert(0, "bundle")
from scripts import randomized  # noqa: E402

base = randomized.FAMILIES["train"]
randomized.FAMILIES["diag_dim_scmos"] = replace(base, photons_e=(1.0, 4.0), read_noise_e=(0.05, 0.3))
randomized.FAMILIES["diag_emccd_bright"] = replace(base, camera="emccd", read_noise_e=(0.05, 0.3))
summary = randomized.generate_randomized_dataset(sys.argv[1], ["diag_dim_scmos", "diag_emccd_bright"], n_experiments=2,
                                                 n_oocytes=3, n_frames=10, seed=202, workers=2)
print(f"{sys.argv[1]}: {len(summary['oocytes'])} oocytes in {summary['seconds']:.0f} s")
