"""Session 39, issue 17 (uncertainty): does the volume band of a FINE-TUNED model cover the true volume of a lab's
new recordings, and which labelled frames must its calibration be fitted on?

For each model fine-tuned by benchmarks/label_efficiency.py on a held-out renderer lab (Sessions 36-38; seed-202
labs, data/labs), the raw band (band_probability 0.2) of its evaluation on the lab's 4 test recordings (frames from
GVBD, true masks) is scored as it is and after a split-conformal calibration (scripts.calibrate_band) fitted on:
  - "labelled": the 10 (or 30) frames it was fine-tuned on (what a lab has without labelling more: in-sample);
  - "pool, other frames": the other frames from GVBD of the 4 labelled recordings (same recordings, not trained on);
  - "new recording, LORO": frames of a recording the model never saw: each test recording in turn is scored with
    Q fitted on the other three test recordings (leave one recording out), coverage pooled over the four.
The pool's frames are evaluated here (run evaluating, as label_efficiency scores the test frames), once per model.
From the project root (2-core CPU; ~1 min per model):
    .venv/bin/python training_state/s39/band_after_finetune.py > training_state/s39/band_after_finetune.md
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "bundle"))
import numpy as np  # noqa: E402
from label_efficiency import evaluate_test_frames, lab_items  # noqa: E402
from scripts.calibrate_band import band_coverage, fit_quantile, frame_arrays  # noqa: E402
from scripts.reports import read_rows  # noqa: E402

LABS = REPO / "data" / "labs"
RECIPE = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
WORK = REPO / "data" / "band_after_finetune39"
# (row name, lab, label_efficiency work folder, run name (its folder under the work folder, and eval_<run name>),
#  datalist of its labels)
MODELS = [
    ("camera, fast, 10 random (S37)", "heldout_camera1", "label_efficiency_camera_fast37",
     f"heldout_camera1_10_labels_{RECIPE}", "heldout_camera1_datalist_10_labels.json"),
    ("camera, fast, 10 even (S38)", "heldout_camera1", "label_efficiency_camera_fast37",
     f"heldout_camera1_10_labels_even_{RECIPE}", "heldout_camera1_datalist_10_labels_even.json"),
    ("camera, fast, 10 even, seed 1 (S38)", "heldout_camera1", "label_efficiency_camera_fast37",
     f"heldout_camera1_10_labels_even_{RECIPE}_seed=1", "heldout_camera1_datalist_10_labels_even.json"),
    ("camera, fast, 30 random (S37)", "heldout_camera1", "label_efficiency_camera30_fast37",
     f"heldout_camera1_30_labels_{RECIPE}", "heldout_camera1_datalist_30_labels.json"),
    ("texture, fast, 10 random (S36)", "heldout_texture1", "label_efficiency_fast36",
     f"heldout_texture1_10_labels_{RECIPE}", "heldout_texture1_datalist_10_labels.json"),
    ("texture, six, 10 random (S36)", "heldout_texture1", "label_efficiency_six36",
     f"heldout_texture1_10_labels_{RECIPE}", "heldout_texture1_datalist_10_labels.json"),
    ("psf, fast, 10 random (S37)", "heldout_psf1", "label_efficiency_psf_fast37",
     f"heldout_psf1_10_labels_{RECIPE}", "heldout_psf1_datalist_10_labels.json"),
]


def arrays(rows):
    a = frame_arrays(rows)
    return a["lo"], a["hi"], a["volume"], a["ref"]


def coverage_text(c):
    return f"{100 * c['coverage_spindle_frames']:.0f} % ({c['n_spindle_frames']}), {100 * c['median_rel_width_covered']:.0f} %"


def calibration(q):
    return {"quantile": q["quantile"], "rel_scale": q["rel_scale"], "floor_um3": q["floor_um3"]}


def main():
    print("Coverage of the true volume by the band on the lab's 4 test recordings' frames from GVBD (frames with a "
          "spindle; count in brackets), median band width / true volume over the covered frames; Q: the "
          "calibration's quantile (its frames in brackets). Target (issue 17): >= 80 %.\n")
    print("| model | test Dice | raw band | Q on its labels (in-sample) | calibrated on its labels | Q on the pool's "
          "other frames | calibrated on them | calibrated on a new recording (leave one test recording out: Q "
          "range) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, lab, work, run, datalist_name in MODELS:
        work_dir = REPO / "data" / work
        model = work_dir / run / "model.pt"
        datalist = json.loads((work_dir / datalist_name).read_text())
        labelled = {(i["oocyte"], i["frame"]) for i in datalist["training"]}
        pool, _, _ = lab_items(LABS, lab)
        pool_list = WORK / f"{lab}_pool_datalist.json"
        pool_list.parent.mkdir(parents=True, exist_ok=True)
        pool_list.write_text(json.dumps({"training": [], "validation": [], "testing": pool}, indent=1))
        pool_eval = WORK / f"pool_{work}_{run}"
        if not (pool_eval / "volumes.csv").is_file():
            evaluate_test_frames(LABS, pool_eval, model, pool_list)
        pool_rows = [r for r in read_rows(pool_eval / "volumes.csv") if r["has_label"] == 1]
        test_rows = [r for r in read_rows(work_dir / f"eval_{run}" / "volumes.csv") if r["has_label"] == 1]
        in_labels = [r for r in pool_rows if (r["oocyte"], int(r["frame"])) in labelled]
        others = [r for r in pool_rows if (r["oocyte"], int(r["frame"])) not in labelled]
        assert len(in_labels) == len(labelled), (name, len(in_labels), len(labelled))
        test = arrays(test_rows)
        raw = band_coverage(*test, None)
        q_labels = fit_quantile(*arrays(in_labels))
        q_others = fit_quantile(*arrays(others))
        # leave one test recording out: each recording's band from Q fitted on the other three
        covered, spindle, widths, qs = [], [], [], []
        for oocyte in sorted({r["oocyte"] for r in test_rows}):
            q = fit_quantile(*arrays([r for r in test_rows if r["oocyte"] != oocyte]))
            qs.append(q["quantile"])
            c = band_coverage(*arrays([r for r in test_rows if r["oocyte"] == oocyte]), calibration(q))
            covered.append(c["coverage_spindle_frames"] * c["n_spindle_frames"])
            spindle.append(c["n_spindle_frames"])
            widths.append(c["median_rel_width_covered"])
        dice = np.mean([r["dice"] for r in test_rows])
        print(f"| {name} | {dice:.3f} | {coverage_text(raw)} | {q_labels['quantile']:.2f} ({q_labels['n_frames']}) | "
              f"{coverage_text(band_coverage(*test, calibration(q_labels)))} | {q_others['quantile']:.2f} "
              f"({q_others['n_frames']}) | {coverage_text(band_coverage(*test, calibration(q_others)))} | "
              f"{100 * sum(covered) / sum(spindle):.0f} % ({sum(spindle)}), ~{100 * np.nanmedian(widths):.0f} %; "
              f"Q {min(qs):.2f}-{max(qs):.2f} |", flush=True)


if __name__ == "__main__":
    main()
