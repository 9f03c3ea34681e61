"""Session 38: where the label-efficiency runs' shortfall lies. Mean Dice and median |volume error| at GVBD (the
first frame with a spindle) and after it, from the evaluation folders Sessions 36-38 left in data/ (the runs of
training_state/s36/label_efficiency_{fast,six}.sh and s37/label_efficiency_*_fast.sh, s38/label_efficiency_camera_
even{,_seed1}_fast.sh). From the project root: .venv/bin/python training_state/s38/by_stage.py > training_state/s38/by_stage.md
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
from label_efficiency import scores_by_stage  # noqa: E402

RECIPE = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
RUNS = {  # work folder -> the session's script
    "label_efficiency_fast36": "s36/label_efficiency_fast.sh (texture1, fast model)",
    "label_efficiency_six36": "s36/label_efficiency_six.sh (texture1, the six)",
    "label_efficiency_psf_fast37": "s37/label_efficiency_psf_fast.sh (psf1, fast model)",
    "label_efficiency_camera_fast37": "s37/label_efficiency_camera_fast.sh, s38/..._camera_even{,_seed1}_fast.sh (camera1)",
    "label_efficiency_camera30_fast37": "s37/label_efficiency_camera30_fast.sh (camera1, 30 labels)",
}

print("| run | evaluation | all: mean Dice | at GVBD: frames, mean Dice, volume error "
      "| after GVBD: frames, mean Dice, volume error |")
print("| --- | --- | --- | --- | --- |")
for folder, script in RUNS.items():
    for output_dir in sorted((REPO / "data" / folder).glob("eval_*")):
        s = scores_by_stage(output_dir)
        n = s["at_gvbd_frames"] + s["after_gvbd_frames"]
        mean = (s["at_gvbd_dice"] * s["at_gvbd_frames"] + s["after_gvbd_dice"] * s["after_gvbd_frames"]) / n
        name = output_dir.name.removeprefix("eval_").replace(RECIPE, "").strip("_")  # the recipe is the same in all
        print(f"| {script} | {name} | {mean:.3f} | {s['at_gvbd_frames']}, {s['at_gvbd_dice']:.3f}, "
              f"{100 * s['at_gvbd_volume_error']:.1f} % | {s['after_gvbd_frames']}, {s['after_gvbd_dice']:.3f}, "
              f"{100 * s['after_gvbd_volume_error']:.1f} % |")
