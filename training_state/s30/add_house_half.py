"""Session 30: a mixed datalist with the house training frames it left out added (mixed_looks22 keeps every second
house frame, from the 0th on; this adds those from the 1st on), so the house phantom's share of training rises.
Paths as scripts.datalist --merge writes them (relative to data/). From bundle/:
    ../.venv/bin/python ../training_state/s30/add_house_half.py IN.json OUT.json"""
import json
import sys

mixed_path, out_path = sys.argv[1:3]
mixed = json.load(open(mixed_path))
house = json.load(open("../data/train_phantom/datalist_dense.json"))["training"][1::2]
mixed["training"] += [{k: f"train_phantom/{v}" if k in ("image", "label") else v for k, v in item.items()}
                      for item in house]
mixed["merged_from"].append({"datalist": "train_phantom/datalist_dense.json", "training_from": 1, "training_every": 2})
json.dump(mixed, open(out_path, "w"), indent=1)
print(f"{out_path}: {len(mixed['training'])} training frames, {len(mixed['validation'])} validation frames")
