"""plot_bench.py JSON PNG — bar chart of each shape's time over its floor."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

data = json.load(open(sys.argv[1]))
rows = [r for r in data["results"] if r["ms_per_iter"] > 0]
labels = [f'{r["shape"]}\n{r["input"]} in, {r["precision"]}' for r in rows]
fig, ax = plt.subplots(figsize=(max(8, len(rows) * 1.1), 4.5))
ax.bar(range(len(rows)), [r["ratio"] for r in rows], color="tab:blue")
ax.axhline(1.0, color="k", lw=0.8)
ax.axhline(2.0, color="tab:red", lw=0.8, ls="--", label="target 2x floor")
for i, r in enumerate(rows):
    ax.text(i, r["ratio"], f'{r["ms_per_iter"]:.3g} ms', ha="center", va="bottom", fontsize=7)
ax.set_xticks(range(len(rows)))
ax.set_xticklabels(labels, fontsize=7, rotation=30, ha="right")
ax.set_ylabel("time per iteration / floor")
ax.set_title(f'flashkm {data["flashkm"]} on {data["gpu"]} ({data["date"][:10]})')
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
