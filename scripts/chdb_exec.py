"""Runs SQL statements on chdb (an embedded current ClickHouse) in one session.

Reads a JSON list of statements from the file named by argv[1]; prints, as a
JSON list, each statement's output in JSONEachRow. A statement may be
{"sql": ..., "guard": ...}: it runs only when the guard query answers 1 (the
sink's migration guards), and outputs "" when skipped. Exits non-zero with the
failing statement on the first error. Used by the clickhouse sink's tests to
check the current-release DDL without a current server.
"""
import json
import sys
import tempfile

from chdb import session

with open(sys.argv[1]) as f:
    statements = json.load(f)
s = session.Session(tempfile.mkdtemp())
outputs = []
for statement in statements:
    if isinstance(statement, dict):
        if str(s.query(statement["guard"], "CSV")).strip() != "1":
            outputs.append("")
            continue
        statement = statement["sql"]
    try:
        outputs.append(str(s.query(statement, "JSONEachRow")))
    except Exception as e:
        sys.exit(f"chdb refused:\n{statement}\n{e}")
print(json.dumps(outputs))
