"""Draws the suite's CSV as a bar chart (msgs/s, log scale). usage: chart.py CSV PNG"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
pipelines = list(dict.fromkeys(r["pipeline"] for r in rows))
sides = list(dict.fromkeys(r["side"] for r in rows))
width = 0.8 / len(sides)
fig, ax = plt.subplots(figsize=(8, 4.5))
for i, side in enumerate(sides):
    values = [
        next((float(r["msgs_per_s"]) for r in rows if r["pipeline"] == p and r["side"] == side and r["msgs_per_s"]), 0)
        for p in pipelines
    ]
    ax.bar([x + i * width for x in range(len(pipelines))], values, width, label=side)
ax.set_xticks([x + width * (len(sides) - 1) / 2 for x in range(len(pipelines))], pipelines)
ax.set_yscale("log")
ax.set_ylabel("messages per second (log scale)")
ax.set_title("kflow benchmark suite: same broker, same input")
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
