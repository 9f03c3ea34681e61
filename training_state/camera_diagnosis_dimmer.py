"""Rough diagnosis (Session 26), follow-up of camera_diagnosis.py: the sCMOS training camera at half of heldout_camera's
photon budget (0.5-2 e-; the EMCCD's excess noise factor sqrt(2) halves its effective photons, so this matches
heldout_camera's signal-to-noise without its noise shape), read noise 0.05-0.3 e-. Run from the project root:
    .venv/bin/python training_state/camera_diagnosis_dimmer.py data/camera_diag_dimmer
"""
import sys
from dataclasses import replace

sys.path.insert(0, "bundle")
from scripts import randomized  # noqa: E402

randomized.FAMILIES["diag_dimmer_scmos"] = replace(randomized.FAMILIES["train"], photons_e=(0.5, 2.0),
                                                   read_noise_e=(0.05, 0.3))
summary = randomized.generate_randomized_dataset(sys.argv[1], ["diag_dimmer_scmos"], n_experiments=2, n_oocytes=3,
                                                 n_frames=10, seed=202, workers=1)
print(f"{sys.argv[1]}: {len(summary['oocytes'])} oocytes in {summary['seconds']:.0f} s")
