"""Throughput of sentence-transformers on the MELD test utterances (the text-encoder bench's
workload), to compare `cargo bench --bench text_encoder` with on the same machine.

    python benches/reference/sentence_transformers_speed.py \
        --model ../shared/models/all-MiniLM-L6-v2 --data ../shared/data/meld.jsonl [--threads 2]

Protocol (as ../shared/perf/reference-times.md): encode(all test utterances, batch_size=64,
normalize_embeddings=True), one warm-up call, median of 3 timed calls.
"""
import argparse
import json
import resource
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split", default="test")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts = []
    with open(args.data) as f:
        for line in f:
            d = json.loads(line)
            if d.get("split") == args.split:
                texts.extend(u["text"] for u in d["utterances"])
    model = SentenceTransformer(args.model, device="cpu")
    model.encode(texts, batch_size=64, normalize_embeddings=True)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "sentences": len(texts), "threads": args.threads, "torch": torch.__version__,
        "seconds": [round(x, 3) for x in times], "median_s": round(med, 3),
        "sentences_per_s": round(len(texts) / med, 1), "peak_rss_mb": round(rss),
    }))


if __name__ == "__main__":
    main()
