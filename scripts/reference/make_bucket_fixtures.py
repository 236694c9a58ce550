"""Records transformers' T5 relative position buckets for offsets -600..600 under the bucket
settings our fixtures and FLAN-T5 use, so the Swift float32 bucket arithmetic is checked at
every boundary (offsets 16/32/64 land exactly on integers)."""
import json, pathlib, torch
from transformers.models.t5.modeling_t5 import T5Attention

out = pathlib.Path(__file__).resolve().parents[2] / "Tests/Fixtures/t5/relative-buckets.json"
rel = torch.arange(-600, 601)
cases = []
for buckets, distance in [(32, 128), (16, 20), (64, 256), (8, 8)]:
    for bidirectional in (True, False):
        b = T5Attention._relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=buckets, max_distance=distance)
        cases.append({"num_buckets": buckets, "max_distance": distance, "bidirectional": bidirectional,
                      "first_offset": -600, "buckets": b.tolist()})
out.write_text(json.dumps({"cases": cases}, separators=(",", ":")) + "\n")
print("wrote", out)
