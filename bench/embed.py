"""Times sentence-transformers on a JSONL file of texts, like bench/embed.rs does vecar's local
provider: `embed.py MODEL_DIR DOCS.jsonl` encodes every line's `text` in one call (batches of 32,
CPU) and prints one JSON line with texts/s (model loading excluded) and the worst cosine against
the lines' reference `vector`s."""

import json
import sys
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer


def main():
    model_dir, docs = sys.argv[1], sys.argv[2]
    lines = [json.loads(line) for line in open(docs)]
    texts = [line["text"] for line in lines]
    model = SentenceTransformer(model_dir, device="cpu")
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=32)
    seconds = time.perf_counter() - start
    reference = np.array([line["vector"] for line in lines], dtype=np.float64)
    vectors = vectors.astype(np.float64)
    cos = (vectors * reference).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))
    print(json.dumps({
        "impl": "sentence-transformers",
        "texts": len(texts),
        "seconds": seconds,
        "texts_per_s": len(texts) / seconds,
        "worst_cosine": float(cos.min()),
        "torch_threads": torch.get_num_threads(),
    }))


main()
