#!/usr/bin/env python3
"""Checks the API sources' test fixtures against the providers' published
machine-readable descriptions.

The connectors' tests run with SOCIALPIPE_FIXTURE_DUMP=DIR write every reply
their local servers serve to DIR (first line `METHOD PATH STATUS`, then the
body). This script checks each body whose provider publishes a description:

- X API v2: the models X's official SDK (`xdk`, PyPI) generates from the
  X OpenAPI description. The SDK renames `tweet` to `post` and `retweet` to
  `repost` in the names it generates; the wire keeps the old names, so keys
  are translated before the check. Unknown fields, wrong types and missing
  required fields are errors.
- YouTube Data API v3 and Drive API v3: Google's discovery documents
  (shipped in `google-api-python-client`): unknown fields and wrong types
  are errors.

Fields the providers' reference pages document but their machine-readable
descriptions omit are listed in UNDESCRIBED with where they are documented;
they are set aside before the check and reported. Meta Graph and the TikTok
Research API publish no such description; their fixtures follow the
reference pages cited in each test module. Exit status 1 when any body
disagrees with its description.
"""

import json
import pathlib
import re
import sys

import googleapiclient
from pydantic import BaseModel
from xdk import schemas as x


def x_keys(value):
    """The SDK's names for the wire's keys."""
    if isinstance(value, dict):
        return {k.replace("retweet", "repost").replace("tweet", "post"): x_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [x_keys(v) for v in value]
    return value


def unknown_fields(model, path="$"):
    """Fields a validated model kept as extras: not in the description."""
    found = []
    if isinstance(model, BaseModel):
        found += [f"{path}.{k}" for k in (model.model_extra or {})]
        for name in type(model).model_fields:
            found += unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            found += unknown_fields(item, f"{path}[{i}]")
    return found


# (method, path) -> {field path ("[]" for every item): where it is documented}.
UNDESCRIBED = {
    ("GET", "/2/tweets/search/stream/rules"): {
        "meta.sent": "the rules lookup reference's example response (docs.x.com, GET /2/tweets/search/stream/rules)",
    },
    ("POST", "/2/tweets/search/stream/rules"): {
        "errors": "invalid-rules problems ({value, details, title, type}) in the add-rules reference (docs.x.com)",
    },
    ("GET", "/youtube/v3/search"): {
        "items[].snippet.publishTime": "the search resource reference (developers.google.com/youtube/v3/docs/search)",
    },
}


def set_aside(value, path):
    """Removes the field at a dotted path; True when it was there."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = value.get(head[:-2], []) if isinstance(value, dict) else []
        return any([set_aside(item, rest) for item in items])
    if not isinstance(value, dict) or head not in value:
        return False
    if rest:
        return set_aside(value[head], rest)
    del value[head]
    return True


def check_x(model, body):
    try:
        validated = model.model_validate(x_keys(body))
    except Exception as e:  # pydantic's ValidationError lists every problem
        return [str(e)]
    return [f"{field}: not in the X API description" for field in unknown_fields(validated)]


X_MODELS = {
    ("GET", "/2/tweets/search/recent"): x.SearchPostsRecentResponse,
    ("GET", "/2/tweets/search/stream/rules"): x.GetRulesResponse,
    ("POST", "/2/tweets/search/stream/rules"): x.UpdateRulesResponse,
    ("GET", "/2/tweets/search/stream"): x.StreamPostsResponse,
}

def discovery(name):
    path = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache/documents" / name
    return json.loads(path.read_text())


YOUTUBE_DOC = discovery("youtube.v3.json")
DRIVE_DOC = discovery("drive.v3.json")
# Path -> (discovery document, response schema).
GOOGLE_SCHEMAS = {
    "/youtube/v3/channels": (YOUTUBE_DOC, "ChannelListResponse"),
    "/youtube/v3/playlistItems": (YOUTUBE_DOC, "PlaylistItemListResponse"),
    "/youtube/v3/videos": (YOUTUBE_DOC, "VideoListResponse"),
    "/youtube/v3/search": (YOUTUBE_DOC, "SearchListResponse"),
    "/youtube/v3/commentThreads": (YOUTUBE_DOC, "CommentThreadListResponse"),
    "/drive/v3/files": (DRIVE_DOC, "FileList"),
}


def check_discovery(doc, value, schema, path):
    """A value against a schema of the discovery document `doc`."""
    if "$ref" in schema:
        return check_discovery(doc, value, doc["schemas"][schema["$ref"]], path)
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: an object expected"]
        errors = []
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += check_discovery(doc, item, properties[key], f"{path}.{key}")
            elif "additionalProperties" in schema:
                errors += check_discovery(doc, item, schema["additionalProperties"], f"{path}.{key}")
            else:
                errors.append(f"{path}.{key}: not in the {doc['name']} discovery document")
        return errors
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: an array expected"]
        return [e for i, item in enumerate(value) for e in check_discovery(doc, item, schema["items"], f"{path}[{i}]")]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: a string expected, not {value!r}"]
        if schema.get("format") in ("int64", "uint64") and not value.lstrip("-").isdigit():
            return [f"{path}: a {schema['format']} string expected, not {value!r}"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{path}: {value!r} is not one of {schema['enum']}"]
        return []
    expected = {"integer": int, "number": (int, float), "boolean": bool}.get(kind)
    if expected and (not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))):
        return [f"{path}: a {kind} expected, not {value!r}"]
    return []


def main(directory):
    checked, undescribed, failures, set_aside_used = 0, set(), [], set()
    for dump in sorted(pathlib.Path(directory).iterdir()):
        head, _, body = dump.read_text().partition("\n")
        method, path, status = head.split(" ")
        if int(status) >= 400:
            undescribed.add(re.sub(r"/\d[\d_]*", "/{id}", path) + " (errors)")
            continue
        lines = body.split("\r\n") if path == "/2/tweets/search/stream" else [body]
        values = []
        for line in filter(str.strip, lines):
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # the stream tests' deliberately malformed lines
        for value in values:
            for field, where in UNDESCRIBED.get((method, path), {}).items():
                if set_aside(value, field):
                    set_aside_used.add(f"{method} {path} {field}: {where}")
        if (method, path) in X_MODELS:
            errors = [e for value in values for e in check_x(X_MODELS[(method, path)], value)]
        elif path in GOOGLE_SCHEMAS:
            doc, schema = GOOGLE_SCHEMAS[path]
            errors = [e for value in values for e in check_discovery(doc, value, {"$ref": schema}, "$")]
        else:
            undescribed.add(re.sub(r"/\d[\d_]*", "/{id}", path))
            continue
        checked += 1
        failures += [f"{method} {path} ({dump.name}): {e}" for e in errors]
    print(f"checked {checked} fixture bodies against the X OpenAPI models and the YouTube and Drive discovery documents")
    print("no published description for: " + ", ".join(sorted(undescribed)))
    for used in sorted(set_aside_used):
        print("documented, not in the description:", used)
    for failure in failures:
        print("MISMATCH", failure)
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
