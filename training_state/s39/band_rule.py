"""Session 39, issue 17: which calibration rule for a fine-tuned model whose only labelled frames are those it was
fine-tuned on? Each model's raw band on its labels (the in-sample frames) gives Q for 80 % and for 90 % coverage
(with 10 frames: the 9th and the 10th = largest of the 10 scores); each is scored on the raw band of new recordings
of the same lab (frames from GVBD with a spindle, true masks): data/labs' recordings 5-8 and, for the camera lab,
data/labs_12_oocytes' recordings 9-12. Raw bands only (the evaluations are rerun with --band_calibration null where
the earlier ones applied a calibration). From the project root (after band_after_finetune.py, lab12_camera.sh):
    .venv/bin/python training_state/s39/band_rule.py > training_state/s39/band_rule.md
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "bundle"))
from label_efficiency import evaluate_test_frames  # noqa: E402
from scripts.calibrate_band import band_coverage, fit_quantile, frame_arrays  # noqa: E402
from scripts.reports import read_rows  # noqa: E402

RECIPE = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
DATA = REPO / "data"
B39 = DATA / "band_after_finetune39"
L12 = DATA / "lab12_pool4_39"
CAM, CAM30 = DATA / "label_efficiency_camera_fast37", DATA / "label_efficiency_camera30_fast37"
# (model, its folder, datalist of its labels, pool evaluation (raw band, every pool frame), [(test set, raw test eval)])
MODELS = [
    ("camera, 10 random from 1-4", CAM / f"heldout_camera1_10_labels_{RECIPE}", CAM / "heldout_camera1_datalist_10_labels.json",
     B39 / f"pool_{CAM.name}_heldout_camera1_10_labels_{RECIPE}",
     [("5-8", CAM / f"eval_heldout_camera1_10_labels_{RECIPE}"), ("9-12", L12 / f"raw_heldout_camera1_10_labels_{RECIPE}")]),
    ("camera, 10 even from 1-4", CAM / f"heldout_camera1_10_labels_even_{RECIPE}",
     CAM / "heldout_camera1_datalist_10_labels_even.json", B39 / f"pool_{CAM.name}_heldout_camera1_10_labels_even_{RECIPE}",
     [("5-8", CAM / f"eval_heldout_camera1_10_labels_even_{RECIPE}"),
      ("9-12", L12 / f"raw_heldout_camera1_10_labels_even_{RECIPE}")]),
    ("camera, 10 even from 1-4, seed 1", CAM / f"heldout_camera1_10_labels_even_{RECIPE}_seed=1",
     CAM / "heldout_camera1_datalist_10_labels_even.json",
     B39 / f"pool_{CAM.name}_heldout_camera1_10_labels_even_{RECIPE}_seed=1",
     [("5-8", CAM / f"eval_heldout_camera1_10_labels_even_{RECIPE}_seed=1")]),
    ("camera, 30 random from 1-4", CAM30 / f"heldout_camera1_30_labels_{RECIPE}", CAM30 / "heldout_camera1_datalist_30_labels.json",
     B39 / f"pool_{CAM30.name}_heldout_camera1_30_labels_{RECIPE}",
     [("5-8", CAM30 / f"eval_heldout_camera1_30_labels_{RECIPE}")]),
    ("texture, fast, 10 random", DATA / "label_efficiency_fast36" / f"heldout_texture1_10_labels_{RECIPE}",
     DATA / "label_efficiency_fast36" / "heldout_texture1_datalist_10_labels.json",
     B39 / f"pool_label_efficiency_fast36_heldout_texture1_10_labels_{RECIPE}",
     [("5-8", DATA / "label_efficiency_fast36" / f"eval_heldout_texture1_10_labels_{RECIPE}")]),
    ("texture, six, 10 random", DATA / "label_efficiency_six36" / f"heldout_texture1_10_labels_{RECIPE}",
     DATA / "label_efficiency_six36" / "heldout_texture1_datalist_10_labels.json",
     B39 / f"pool_label_efficiency_six36_heldout_texture1_10_labels_{RECIPE}",
     [("5-8", DATA / "label_efficiency_six36" / f"eval_heldout_texture1_10_labels_{RECIPE}")]),
    ("psf, fast, 10 random", DATA / "label_efficiency_psf_fast37" / f"heldout_psf1_10_labels_{RECIPE}",
     DATA / "label_efficiency_psf_fast37" / "heldout_psf1_datalist_10_labels.json",
     B39 / f"pool_label_efficiency_psf_fast37_heldout_psf1_10_labels_{RECIPE}",
     [("5-8", DATA / "label_efficiency_psf_fast37" / f"eval_heldout_psf1_10_labels_{RECIPE}")]),
    ("camera, 10 random from 1-8", DATA / "label_efficiency_lab12_camera39" /
     f"heldout_camera1_10_labels_from_8_oocytes_{RECIPE}", None, None,
     [("9-12", L12 / f"raw_heldout_camera1_10_labels_from_8_oocytes_{RECIPE}")]),
]


def arrays(rows):
    a = frame_arrays([r for r in rows if r["has_label"] == 1])
    return a["lo"], a["hi"], a["volume"], a["ref"]


def calibration(q):
    return {"quantile": q["quantile"], "rel_scale": q["rel_scale"], "floor_um3": q["floor_um3"]}


print("Coverage of new recordings' frames with a spindle (count) by the band calibrated on the model's own labels, "
      "median width / true volume over the covered frames; Q in brackets.\n")
print("| model | test recordings | raw band | Q for 80 % on its labels | Q for 90 % on its labels |")
print("| --- | --- | --- | --- | --- |")
totals = {"raw": [0, 0], "80": [0, 0], "90": [0, 0]}
for name, folder, datalist, pool_eval, tests in MODELS:
    if datalist is None:  # a run of this session: its own calibration evaluation holds its labels' raw bands
        label_rows = read_rows(folder / "band_calibration_eval" / "volumes.csv")
    else:
        labelled = {(i["oocyte"], i["frame"]) for i in json.loads(datalist.read_text())["training"]}
        label_rows = [r for r in read_rows(pool_eval / "volumes.csv") if (r["oocyte"], int(r["frame"])) in labelled]
    q80, q90 = fit_quantile(*arrays(label_rows), coverage=0.8), fit_quantile(*arrays(label_rows), coverage=0.9)
    for test_name, test_eval in tests:
        if not (test_eval / "volumes.csv").is_file():
            test_list = L12 / "heldout_camera1_datalist_test.json"
            evaluate_test_frames(DATA / "labs_12_oocytes", test_eval, folder / "model.pt", test_list,
                                 ["--band_calibration", "null"])
        test = arrays(read_rows(test_eval / "volumes.csv"))
        cells = []
        for key, cal in (("raw", None), ("80", calibration(q80)), ("90", calibration(q90))):
            c = band_coverage(*test, cal)
            totals[key][0] += round(c["coverage_spindle_frames"] * c["n_spindle_frames"])
            totals[key][1] += c["n_spindle_frames"]
            cells.append(f"{100 * c['coverage_spindle_frames']:.0f} % ({c['n_spindle_frames']}), "
                         f"{100 * c['median_rel_width_covered']:.0f} %")
        print(f"| {name} | {test_name} | {cells[0]} | {cells[1]} (Q {q80['quantile']:.2f}) | {cells[2]} "
              f"(Q {q90['quantile']:.2f}) |", flush=True)
print(f"\nPooled over the rows: raw {100 * totals['raw'][0] / totals['raw'][1]:.0f} %, "
      f"80 % rule {100 * totals['80'][0] / totals['80'][1]:.0f} %, 90 % rule "
      f"{100 * totals['90'][0] / totals['90'][1]:.0f} % of {totals['raw'][1]} frames (rows share test frames: "
      "not independent).")
