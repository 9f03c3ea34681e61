"""Session 39: what lies under the camera lab's recording 10 (data/labs_12_oocytes heldout_camera1/oocyte10), whose
masks every fine-tuned model makes 40-48 % too large by extending them 3-4 slices below the true spindle? Frame 8
re-rendered (scripts.randomized, the lab's look, exactly as written) with one part of the look switched off at a
time; per z slice, the microtubule channel's mean over the true mask's x-y footprint minus the median outside it
(counts). From the project root:
    .venv/bin/python training_state/s39/recording10_signal.py > training_state/s39/recording10_signal.md
"""

import dataclasses

import numpy as np
from scripts.randomized import RandomizedOocyte, draw_lab_look

FRAME = 8
look = draw_lab_look(202, "heldout_camera", 2000)  # heldout_camera1 of the labs datasets: family index 2
variants = [("as written", {}), ("no free asters", {"asters": 0.0}), ("no aggregates", {"aggregates": 0.0}),
            ("no halo", {"halo": 0.0}), ("no haze", {"haze": 0.0}), ("no cortex", {"cortex": 0.0}),
            ("no zona", {"zona": 0.0}), ("no neighbouring cell", {"neighbour": 0.0}),
            ("no stripes, no bias field", {"stripes": 0.0, "bias": 0.0}), ("no spindle (contrast 1)", {"contrast": 1.0})]
rows = []
for name, change in variants:
    oocyte = RandomizedOocyte("heldout_camera", n_frames=10, seed=202, experiment_index=2000, oocyte_index=9,
                              look=dataclasses.replace(look, **change))
    image = oocyte.render_frame(FRAME)[:, 1].astype(float)
    mask = oocyte.true_mask(FRAME) > 0
    footprint = mask.any(0)
    background = np.median(image[:, ~footprint])
    signal = [np.mean(image[z][footprint]) - background for z in range(image.shape[0])]
    truth_z = np.nonzero(mask.reshape(mask.shape[0], -1).any(1))[0]
    rows.append((name, signal))
print(f"Frame {FRAME}: the true spindle occupies slices {truth_z[0]}-{truth_z[-1]}; the fine-tuned models' masks reach "
      "slice 22.\n")
print("| look | " + " | ".join(f"z {z}" for z in range(12, 24)) + " |")
print("| --- | " + " | ".join("---" for _ in range(12, 24)) + " |")
for name, signal in rows:
    print(f"| {name} | " + " | ".join(f"{signal[z]:.1f}" for z in range(12, 24)) + " |")
