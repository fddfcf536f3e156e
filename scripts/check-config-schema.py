"""Checks the configuration's JSON Schema (`socialpipe config schema`)
against the shipped example configurations: each validates (after `${VAR:-default}`
interpolation, with defaults), and the same file with an unknown key, or an
unknown component type, does not.

usage: check-config-schema.py SCHEMA.json EXAMPLE.toml...
"""

import json
import re
import sys
import tomllib

from jsonschema import Draft202012Validator


def interpolate(text: str) -> str:
    # ${VAR:-default} -> default; ${VAR} -> a placeholder string.
    text = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", lambda m: m.group(1), text)
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", "from-the-environment", text)


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    failures = []
    for path in sys.argv[2:]:
        config = tomllib.loads(interpolate(open(path).read()))
        errors = [e.message for e in validator.iter_errors(config)]
        if errors:
            failures.append(f"{path}: {errors[:3]}")
        wrong = json.loads(json.dumps(config))
        first_sink = next(iter(wrong.get("sinks", {}).values()), None)
        if first_sink is not None:
            first_sink["colour"] = "blue"
            if validator.is_valid(wrong):
                failures.append(f"{path}: an unknown sink key validates")
        wrong = json.loads(json.dumps(config))
        for stage in wrong.get("stages", [])[:1]:
            stage["type"] = "entitys"
            if validator.is_valid(wrong):
                failures.append(f"{path}: an unknown stage type validates")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"config schema: {len(sys.argv) - 2} examples checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
