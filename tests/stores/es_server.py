"""An Elasticsearch REST server for the tests, strict where vecar's bridge depends on it.

No package ships a runtime validator for Elasticsearch requests (the `elasticsearch` Python client
and `@elastic/elasticsearch` carry only static types; the elasticsearch-specification is a
TypeScript model), so this server checks by hand, following Elasticsearch 8's REST API:

Checked: credentials (`Authorization: ApiKey K` or Basic user:password, when started with them);
Content-Type (JSON, or NDJSON for `_bulk`); index names (lowercase, no `\\ / * ? " < > | , #`
or space, not starting with `- _ +`); create-index bodies (only `settings`, `mappings`,
`aliases`; mapping types and their parameters: `dense_vector` `dims` 1..4096, `index`,
`similarity` cosine|dot_product|l2_norm|max_inner_product, `element_type` float; OpenSearch's
`knn_vector` `dimension` and `method.space_type`); an existing index is refused; a missing index
is 404 for mapping, count, search and refresh; `_bulk` bodies must end with a newline, action
lines must be `index` or `create` with only `_index`/`_id`, `_id` at most 512 bytes, each item is
checked on its own (vector length = dims, finite numbers, no zero vector under cosine, unit length
under dot_product, a value of another type than its field's mapping) and answered with 201 or its
error (`errors: true`, HTTP 200); documents are visible to `_count` and `_search` only after a
refresh; search bodies take only `size` (at most 10,000), `sort`, `query` (`match_all`),
`_source`, `track_total_hits`; scroll ids must be live; unknown query parameters are refused.

Not checked: anything vecar does not send (aggregations, queries beyond match_all, analyzers,
shards, versions); dynamic mapping is reduced to text/long/float/boolean/object; `_source` is
kept as parsed JSON (Python floats are doubles, so float32 values written with their shortest
decimal come back exact, as Elasticsearch's verbatim `_source` does).

Fault routes (see serve.py): `index`, `mapping`, `bulk`, `refresh`, `count`, `search`, `scroll`.
"""

import base64
import itertools
import json
import math
import re
import threading

import serve

ROUTES = [
    ("DELETE", r"/_search/scroll", "clear"),
    ("POST", r"/_search/scroll", "scroll"),
    ("GET", r"/_search/scroll", "scroll"),
    ("POST", r"/_bulk", "bulk"),
    ("PUT", r"/_bulk", "bulk"),
    ("POST", r"/([^/_][^/]*)/_bulk", "bulk"),
    ("PUT", r"/([^/_][^/]*)/_bulk", "bulk"),
    ("GET", r"/([^/_][^/]*)/_mapping", "mapping"),
    ("POST", r"/([^/_][^/]*)/_refresh", "refresh"),
    ("GET", r"/([^/_][^/]*)/_count", "count"),
    ("POST", r"/([^/_][^/]*)/_count", "count"),
    ("GET", r"/([^/_][^/]*)/_search", "search"),
    ("POST", r"/([^/_][^/]*)/_search", "search"),
    ("PUT", r"/([^/_][^/]*)", "index"),
    ("HEAD", r"/([^/_][^/]*)", "exists"),
    ("GET", r"/([^/_][^/]*)", "get"),
    ("DELETE", r"/([^/_][^/]*)", "delete"),
]
PARAMS = {
    "clear": set(),
    "scroll": set(),
    "bulk": {"refresh", "timeout"},
    "mapping": set(),
    "refresh": set(),
    "count": set(),
    "search": {"scroll", "size"},
    "index": {"timeout"},
    "exists": set(),
    "get": set(),
    "delete": set(),
}
SIMILARITIES = {"cosine", "dot_product", "l2_norm", "max_inner_product"}
TYPES = {"text", "keyword", "long", "integer", "float", "double", "boolean", "object", "date", "dense_vector", "knn_vector"}
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
MAX_WINDOW = 10_000


def failure(status, kind, reason, **extra):
    cause = {"type": kind, "reason": reason, **extra}
    return serve.StoreError(status, {"error": {"root_cause": [cause], **cause}, "status": status})


def missing(index):
    return failure(404, "index_not_found_exception", f"no such index [{index}]", index=index)


class Index:
    def __init__(self, mappings, settings):
        self.properties = mappings.get("properties", {})
        self.settings = settings
        self.docs = {}  # _id -> _source, as of the last refresh
        self.pending = {}  # written since the last refresh

    def refresh(self):
        self.docs.update(self.pending)
        self.pending = {}


class Elasticsearch:
    def __init__(self):
        self.indexes = {}
        self.scrolls = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def error_body(self, status, message):
        kind = "es_rejected_execution_exception" if status == 429 else "internal_server_error"
        return {"error": {"root_cause": [{"type": kind, "reason": message}], "type": kind, "reason": message}, "status": status}

    def authorize(self, headers, options):
        given = headers.get("Authorization")
        wanted = []
        if options.api_key:
            wanted.append(f"ApiKey {options.api_key}")
        if options.basic:
            wanted.append("Basic " + base64.b64encode(options.basic.encode()).decode())
        if wanted and given not in wanted:
            raise failure(401, "security_exception", "missing authentication credentials for REST request")

    def route(self, method, path):
        for verb, pattern, name in ROUTES:
            if verb == method and re.fullmatch(pattern, path):
                return name
        raise failure(405 if any(re.fullmatch(p, path) for _, p, _ in ROUTES) else 400, "illegal_argument_exception", f"no handler for [{method} {path}]")

    def handle(self, method, path, query, headers, body):
        name = self.route(method, path)
        match = next(re.fullmatch(p, path) for v, p, n in ROUTES if n == name and v == method and re.fullmatch(p, path))
        index = match.group(1) if match.groups() else None
        for key in query:
            if key not in PARAMS[name]:
                raise failure(400, "illegal_argument_exception", f"request [{path}] contains unrecognized parameter: [{key}]")
        kind = headers.get("Content-Type", "").split(";")[0].strip()
        if body and kind not in ("application/json", "application/x-ndjson"):
            raise failure(406, "media_type_header_exception", f"Content-Type header [{kind}] is not supported")
        if name == "bulk":
            parsed = body
        elif body:
            try:
                parsed = json.loads(body)
            except ValueError as e:
                raise failure(400, "parse_exception", f"request body is not valid JSON: {e}")
        else:
            parsed = None
        with self.lock:
            return getattr(self, name)(index, query, parsed)

    def existing(self, index):
        if index not in self.indexes:
            raise missing(index)
        return self.indexes[index]

    def exists(self, index, query, body):
        return (200 if index in self.indexes else 404), None

    def get(self, index, query, body):
        found = self.existing(index)
        return 200, {index: {"mappings": {"properties": found.properties}, "settings": found.settings}}

    def delete(self, index, query, body):
        self.existing(index)
        del self.indexes[index]
        return 200, {"acknowledged": True}

    def index(self, index, query, body):
        check_index_name(index)
        if index in self.indexes:
            raise failure(400, "resource_already_exists_exception", f"index [{index}] already exists", index=index)
        body = body or {}
        for key in body:
            if key not in ("settings", "mappings", "aliases"):
                raise failure(400, "parse_exception", f"unknown key [{key}] for create index")
        mappings = body.get("mappings", {})
        for key in mappings:
            if key not in ("properties", "dynamic", "_source"):
                raise failure(400, "mapper_parsing_exception", f"Root mapping definition has unsupported parameters: [{key}]")
        for field, mapping in mappings.get("properties", {}).items():
            check_mapping(field, mapping)
        self.indexes[index] = Index(mappings, body.get("settings", {}))
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index}

    def mapping(self, index, query, body):
        return 200, {index: {"mappings": {"properties": self.existing(index).properties}}}

    def refresh(self, index, query, body):
        self.existing(index).refresh()
        return 200, {"_shards": SHARDS}

    def count(self, index, query, body):
        found = self.existing(index)
        if body is not None and set(body) - {"query"}:
            raise failure(400, "parsing_exception", f"request does not support [{next(iter(set(body) - {'query'}))}]")
        return 200, {"count": len(found.docs), "_shards": SHARDS}

    def bulk(self, index, query, body):
        if not body.endswith(b"\n"):
            raise failure(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        lines = body.decode().split("\n")[:-1]
        items, errors, n = [], False, 0
        while n < len(lines):
            try:
                action = json.loads(lines[n])
            except ValueError:
                raise failure(400, "x_content_parse_exception", f"[{n + 1}:1] malformed action/metadata line")
            if not isinstance(action, dict) or len(action) != 1 or next(iter(action)) not in ("index", "create"):
                raise failure(400, "illegal_argument_exception", f"Malformed action/metadata line [{n + 1}], expected index or create")
            verb, meta = next(iter(action.items()))
            for key in meta:
                if key not in ("_index", "_id"):
                    raise failure(400, "illegal_argument_exception", f"Action/metadata line [{n + 1}] contains an unknown parameter [{key}]")
            target = meta.get("_index", index)
            if target is None:
                raise failure(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
            if n + 1 >= len(lines):
                raise failure(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
            doc_id = meta.get("_id")
            item = self.write(target, verb, doc_id, lines[n + 1])
            errors |= "error" in item
            items.append({verb: item})
            n += 2
        if query.get("refresh") in ("", "true", "wait_for"):
            for found in self.indexes.values():
                found.refresh()
        return 200, {"took": 1, "errors": errors, "items": items}

    def write(self, target, verb, doc_id, line):
        item = {"_index": target, "_id": doc_id}
        if doc_id is None:
            doc_id = item["_id"] = f"auto{next(self.ids)}"
        if not isinstance(doc_id, str) or doc_id == "" or len(doc_id.encode()) > 512:
            return {**item, "status": 400, "error": {"type": "illegal_argument_exception", "reason": "id is too long or empty"}}
        if target not in self.indexes:
            check_index_name(target)
            self.indexes[target] = Index({}, {})
        found = self.indexes[target]
        try:
            source = json.loads(line)
        except ValueError as e:
            return {**item, "status": 400, "error": {"type": "document_parsing_exception", "reason": f"failed to parse: {e}"}}
        reason = check_document(found.properties, source, doc_id)
        if reason:
            return {**item, "status": 400, "error": {"type": "document_parsing_exception", "reason": reason}}
        exists = doc_id in found.docs or doc_id in found.pending
        if verb == "create" and exists:
            return {**item, "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": f"[{doc_id}]: version conflict, document already exists"}}
        found.pending[doc_id] = source
        return {**item, "_version": 1, "result": "updated" if exists else "created", "_shards": SHARDS, "status": 200 if exists else 201}

    def search(self, index, query, body):
        found = self.existing(index)
        body = body or {}
        for key in body:
            if key not in ("size", "sort", "query", "_source", "track_total_hits"):
                raise failure(400, "parsing_exception", f"Unknown key for a START_OBJECT in [{key}].")
        size = body.get("size", int(query.get("size", 10)))
        if not isinstance(size, int) or size < 0 or size > MAX_WINDOW:
            raise failure(400, "illegal_argument_exception", f"Result window is too large, size must be less than or equal to: [{MAX_WINDOW}]")
        if body.get("query", {"match_all": {}}) != {"match_all": {}}:
            raise failure(400, "parsing_exception", "this test server answers only match_all")
        hits = [{"_index": index, "_id": i, "_score": None, "_source": s} for i, s in found.docs.items()]
        answer = {"took": 1, "timed_out": False, "_shards": SHARDS, "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits[:size]}}
        if "scroll" in query:
            scroll_id = base64.b64encode(f"scroll-{next(self.ids)}".encode()).decode()
            self.scrolls[scroll_id] = (hits[size:], size)
            answer["_scroll_id"] = scroll_id
        return 200, answer

    def scroll(self, index, query, body):
        if not isinstance(body, dict) or set(body) - {"scroll", "scroll_id"} or "scroll_id" not in body:
            raise failure(400, "action_request_validation_exception", "Validation Failed: 1: scrollId is missing;")
        scroll_id = body["scroll_id"]
        if scroll_id not in self.scrolls:
            raise failure(404, "search_phase_execution_exception", "all shards failed: No search context found for id")
        rest, size = self.scrolls[scroll_id]
        self.scrolls[scroll_id] = (rest[size:], size)
        return 200, {"_scroll_id": scroll_id, "took": 1, "timed_out": False, "_shards": SHARDS, "hits": {"total": {"value": len(rest), "relation": "eq"}, "max_score": None, "hits": rest[:size]}}

    def clear(self, index, query, body):
        ids = (body or {}).get("scroll_id", [])
        ids = [ids] if isinstance(ids, str) else ids
        freed = sum(1 for i in ids if self.scrolls.pop(i, None) is not None)
        return 200, {"succeeded": True, "num_freed": freed}


def check_index_name(name):
    if name != name.lower() or re.search(r'[\\/*?"<>| ,#:]', name) or name[0] in "-_+" or name in (".", ".."):
        raise failure(400, "invalid_index_name_exception", f"Invalid index name [{name}]", index=name)


def check_mapping(field, mapping):
    kind = mapping.get("type", "object")
    if kind not in TYPES:
        raise failure(400, "mapper_parsing_exception", f"No handler for type [{kind}] declared on field [{field}]")
    allowed = {
        "dense_vector": {"type", "dims", "index", "similarity", "element_type", "index_options"},
        "knn_vector": {"type", "dimension", "method", "data_type"},
        "object": {"type", "properties", "dynamic", "enabled"},
        "text": {"type", "fields", "analyzer", "index"},
    }.get(kind, {"type", "index", "ignore_above", "format"})
    for key in mapping:
        if key not in allowed:
            raise failure(400, "mapper_parsing_exception", f"unknown parameter [{key}] on mapper [{field}] of type [{kind}]")
    if kind == "dense_vector":
        dims = mapping.get("dims")
        if dims is not None and not (isinstance(dims, int) and 1 <= dims <= 4096):
            raise failure(400, "mapper_parsing_exception", f"The number of dimensions should be in the range [1, 4096] but was [{dims}]")
        if mapping.get("similarity", "cosine") not in SIMILARITIES:
            raise failure(400, "mapper_parsing_exception", f"Unknown value [{mapping['similarity']}] for field [similarity]")
        if mapping.get("element_type", "float") != "float":
            raise failure(400, "mapper_parsing_exception", "this test server takes element_type float only")
    if kind == "knn_vector" and not isinstance(mapping.get("dimension"), int):
        raise failure(400, "mapper_parsing_exception", f"Dimension value missing for vector: {field}")
    for sub, child in mapping.get("properties", {}).items():
        check_mapping(f"{field}.{sub}", child)


def check_document(properties, source, doc_id):
    """Why the document cannot be indexed under `properties` (extended by dynamic mapping), or None."""
    if not isinstance(source, dict):
        return "the document is not a JSON object"
    for field, value in source.items():
        if field in ("_id", "_index", "_source"):
            return f"Field [{field}] is a metadata field and cannot be added inside a document."
        mapping = properties.get(field)
        if mapping is None:
            if value is not None:
                properties[field] = dynamic(value)
            continue
        reason = check_value(field, mapping, value, doc_id)
        if reason:
            return reason
    return None


def dynamic(value):
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, str):
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    if isinstance(value, dict):
        inner = {}
        check_document(inner, value, None)
        return {"properties": inner}
    if isinstance(value, list):
        first = next((v for v in value if v is not None), None)
        return dynamic(first) if first is not None else {"type": "text"}
    return {"type": "text"}


def check_value(field, mapping, value, doc_id):
    kind = mapping.get("type", "object")
    if value is None:
        return None
    if kind in ("dense_vector", "knn_vector"):
        dims = mapping.get("dims", mapping.get("dimension"))
        if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
            return f"failed to parse field [{field}] of type [{kind}] in document with id '{doc_id}'"
        if dims is not None and len(value) != dims:
            return f"The [{kind}] field [{field}] in doc [document with id '{doc_id}'] has a different number of dimensions [{len(value)}] than defined in the mapping [{dims}]"
        if not all(math.isfinite(x) for x in value):
            return f"[{kind}] field [{field}] doesn't support NaN and Infinite values"
        norm = math.sqrt(sum(x * x for x in value))
        similarity = mapping.get("similarity", "cosine")
        if kind == "dense_vector" and similarity == "cosine" and norm == 0:
            return f"The [cosine] similarity does not support vectors with zero magnitude. Preview of invalid vector: {value[:5]}"
        if kind == "dense_vector" and similarity == "dot_product" and abs(norm - 1) > 1e-4:
            return f"The [dot_product] similarity can only be used with unit-length vectors. Preview of invalid vector: {value[:5]}"
        return None
    values = value if isinstance(value, list) else [value]
    for item in values:
        if kind in ("long", "integer") and not (isinstance(item, int) and not isinstance(item, bool)):
            if not (isinstance(item, str) and re.fullmatch(r"-?\d+", item)):
                return f"failed to parse field [{field}] of type [{kind}] in document with id '{doc_id}'. Preview of field's value: '{item}'"
        if kind in ("float", "double") and (isinstance(item, (bool, dict, list)) or (isinstance(item, str) and not re.fullmatch(r"-?[\d.eE+-]+", item))):
            return f"failed to parse field [{field}] of type [{kind}] in document with id '{doc_id}'. Preview of field's value: '{item}'"
        if kind == "boolean" and not isinstance(item, bool) and item not in ("true", "false"):
            return f"failed to parse field [{field}] of type [boolean] in document with id '{doc_id}'"
        if kind == "object" and isinstance(item, dict):
            reason = check_document(mapping.setdefault("properties", {}), item, doc_id)
            if reason:
                return reason
        elif kind == "object":
            return f"object mapping for [{field}] tried to parse field [{field}] as object, but found a concrete value"
        elif kind in ("text", "keyword") and isinstance(item, dict):
            return f"failed to parse field [{field}] of type [{kind}] in document with id '{doc_id}'"
    return None


if __name__ == "__main__":
    serve.run(Elasticsearch(), serve.arguments(__doc__))
