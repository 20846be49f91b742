"""Reads a manifest with pandas.read_csv and no options, as a user or a spreadsheet would.

Usage: manifest_pandas.py MANIFEST.csv
Prints one JSON object: the columns pandas found, the row count, and the rows (every
value as pandas parsed it: seed as an integer, empty sha256 as null).
"""
import json
import sys

import pandas as pd

df = pd.read_csv(sys.argv[1])
rows = json.loads(df.to_json(orient="records"))
print(json.dumps({"columns": list(df.columns), "n": len(df), "rows": rows}))
