"""A TensorFlow Serving REST client as Python users write one (urllib, json, gzip from the
standard library), for serve's tests: it sends the requests in a JSON plan and prints
one result per request.

    python serve_client.py PLAN.json  ->  [{"status": 200, "ctype": "...", "body": <JSON or text>}, ...]

Each plan entry: {"url", "method", "headers", "json": the body, "nan_at": [i, j, k] to set
flat values i, j, k of instance 0's pixels to NaN, Infinity and -Infinity (json.dumps then
writes them as bare words, as Python clients of TensorFlow Serving send them), "gzip": true
to send the body compressed with Content-Encoding: gzip}. NaN and the infinities in the
answers are printed as the strings "NaN", "Infinity", "-Infinity".
"""
import gzip
import json
import sys
import urllib.error
import urllib.request


def send(entry):
    body = None
    if "json" in entry:
        body = json.dumps(entry["json"]).encode()
        if entry.get("nan_at"):  # put float('nan'), inf, -inf at given flat positions of instance 0
            doc = entry["json"]
            flat = [v for row in doc["instances"][0] for px in row for v in px]
            for i, v in zip(entry["nan_at"], [float("nan"), float("inf"), float("-inf")]):
                flat[i] = v
            n = len(doc["instances"][0])
            it = iter(flat)
            doc["instances"][0] = [[[next(it) for _ in range(3)] for _ in range(n)] for _ in range(n)]
            body = json.dumps(doc).encode()
    headers = dict(entry.get("headers", {}))
    if entry.get("gzip"):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(entry["url"], data=body, method=entry.get("method", "POST"), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, ctype, raw = r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        status, ctype, raw = e.code, e.headers.get("Content-Type", ""), e.read()
    try:
        parsed = json.loads(raw)  # reads NaN and Infinity, as TensorFlow Serving writes them
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return {"status": status, "ctype": ctype, "body": words(parsed)}


def words(v):
    """NaN and the infinities as the strings "NaN", "Infinity", "-Infinity" (strict JSON)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, list):
        return [words(x) for x in v]
    if isinstance(v, dict):
        return {k: words(x) for k, x in v.items()}
    return v


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    out = [send(e) for e in plan]
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
