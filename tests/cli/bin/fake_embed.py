"""A stand-in embedding command for the tests: reads {"text": ...} lines on stdin and answers
one JSON array per line, a deterministic unit vector derived from the text's SHA-256.

Usage: fake_embed.py [DIMS] [MODE], MODE one of: ok, short (drops the last answer),
bad (the second answer is not JSON), fail (exits 3 after answering)."""
import hashlib
import json
import math
import sys

dims = int(sys.argv[1]) if len(sys.argv) > 1 else 8
mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
answers = []
for line in sys.stdin:
    text = json.loads(line)["text"]
    digest = hashlib.sha256(text.encode()).digest()
    v = [digest[i % 32] - 127.5 for i in range(dims)]
    norm = math.sqrt(sum(x * x for x in v))
    answers.append(json.dumps([x / norm for x in v]))
if mode == "short":
    answers = answers[:-1]
if mode == "bad" and len(answers) > 1:
    answers[1] = "[1, 2,"
print("\n".join(answers))
if mode == "fail":
    sys.exit(3)
