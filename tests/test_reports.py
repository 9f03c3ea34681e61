"""scripts.reports: the folder-wide tables rebuilt from the finished oocytes' row files."""

import math

from scripts.reports import read_rows, volume_csv_columns, write_csv, write_reports


def test_reports_merge_oocytes_evaluated_with_and_without_the_baseline(tmp_path):
    def oocyte_rows(oocyte, methods):
        row = {"experiment": "exp1", "oocyte": oocyte, "frame": 0, "time_min": 0.0, "minutes_since_gvbd": 0.0,
               "has_label": True, "ref_volume_um3": 10.0}
        for i, method in enumerate(methods):
            prefix = "" if i == 0 else f"{method}_"
            row.update({f"{prefix}volume_um3": 12.0, f"{prefix}abs_volume_error_um3": 2.0,
                        f"{prefix}rel_volume_error": 0.2, f"{prefix}dice": 0.9})
        return volume_csv_columns(methods), [row]

    write_csv(tmp_path / "oocytes" / "exp1" / "a.csv", *oocyte_rows("a", ["network", "baseline"]))
    write_csv(tmp_path / "oocytes" / "exp1" / "b.csv", *oocyte_rows("b", ["network"]))
    report = write_reports(tmp_path)
    rows = read_rows(tmp_path / "volumes.csv")
    assert [r["oocyte"] for r in rows] == ["a", "b"]
    assert rows[0]["baseline_volume_um3"] == 12.0 and math.isnan(rows[1]["baseline_volume_um3"])
    overall = {r["method"]: r for r in report["per_experiment"] if r["experiment"] == "ALL"}
    assert overall["network"]["n_frames"] == 2 and overall["baseline"]["n_frames"] == 1
    assert overall["network"]["mae_um3"] == 2.0 and overall["network"]["median_abs_rel_volume_error"] == 0.2
