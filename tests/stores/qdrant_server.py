"""A Qdrant REST server for the tests, built on the qdrant-client package (pinned in
tests/py/requirements.txt): every request body is parsed with the client's pydantic models, which
are generated from Qdrant's OpenAPI schema (unknown fields and wrong types are refused, as the
real server refuses them), executed by the client's local mode (`QdrantClient(":memory:")`, which
implements Qdrant's semantics: ids are unsigned integers or UUIDs, vectors must have the
collection's size, Cosine vectors are normalised on insert), and answered in Qdrant's response
shape, checked against the client's response models.

Routes: GET/PUT/DELETE /collections/{name}, GET /collections/{name}/exists,
PUT /collections/{name}/points (upsert), POST /collections/{name}/points/scroll and
/points/count. Fault routes (see serve.py): `collection`, `upsert`, `scroll`, `count`.
"""

import re
import threading
import time

from pydantic import TypeAdapter, ValidationError
from qdrant_client import QdrantClient, models as m

import serve

ROUTES = [
    ("GET", r"/collections/([^/]+)", "collection"),
    ("PUT", r"/collections/([^/]+)", "create"),
    ("DELETE", r"/collections/([^/]+)", "delete"),
    ("GET", r"/collections/([^/]+)/exists", "exists"),
    ("PUT", r"/collections/([^/]+)/points", "upsert"),
    ("POST", r"/collections/([^/]+)/points/scroll", "scroll"),
    ("POST", r"/collections/([^/]+)/points/count", "count"),
]
# The query parameters each route accepts (Qdrant's OpenAPI schema).
PARAMS = {
    "collection": set(),
    "create": {"timeout"},
    "delete": {"timeout"},
    "exists": set(),
    "upsert": {"wait", "ordering", "timeout"},
    "scroll": {"consistency", "timeout"},
    "count": {"consistency", "timeout"},
}
# The request body model of each route, the response model of each route.
BODIES = {"create": m.CreateCollection, "upsert": m.PointInsertOperations, "scroll": m.ScrollRequest, "count": m.CountRequest}
ANSWERS = {
    "collection": m.InlineResponse2007,
    "create": m.InlineResponse2001,
    "delete": m.InlineResponse2001,
    "exists": m.InlineResponse2009,
    "upsert": m.InlineResponse2008,
    "scroll": m.InlineResponse20019,
    "count": m.InlineResponse20020,
}


def error(status, message):
    return serve.StoreError(status, {"status": {"error": message}, "time": 0.0})


class Qdrant:
    def __init__(self):
        self.client = QdrantClient(":memory:")
        self.lock = threading.Lock()

    def error_body(self, status, message):
        return {"status": {"error": message}, "time": 0.0}

    def authorize(self, headers, options):
        if options.api_key is None:
            return
        bearer = headers.get("Authorization", "")
        if headers.get("api-key") != options.api_key and bearer != f"Bearer {options.api_key}":
            raise error(401, "Must provide an API key or an Authorization bearer token")

    def route(self, method, path):
        for verb, pattern, name in ROUTES:
            if verb == method and re.fullmatch(pattern, path):
                return name
        raise error(404, f"Not found: no route {method} {path}")

    def handle(self, method, path, query, headers, body):
        name = self.route(method, path)
        collection = next(re.fullmatch(p, path).group(1) for v, p, n in ROUTES if n == name and v == method)
        for key in query:
            if key not in PARAMS[name]:
                raise error(400, f"Format error in query string: unknown field `{key}`")
        request = None
        if name in BODIES:
            if not headers.get("Content-Type", "").startswith("application/json"):
                raise error(400, "Content type error: expected application/json")
            try:
                model = BODIES[name]
                if name == "upsert":  # an untagged union: name the variant the body means
                    model = m.PointsBatch if b'"batch"' in body and b'"points"' not in body else m.PointsList
                request = TypeAdapter(model).validate_json(body)
            except ValidationError as e:
                raise error(400, f"Format error in JSON body: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}")
        start = time.monotonic()
        with self.lock:
            try:
                result = getattr(self, name)(collection, request)
            except ValueError as e:
                message = str(e)
                if "not found" in message:
                    raise error(404, f"Not found: Collection `{collection}` doesn't exist!")
                if "already exists" in message:
                    raise error(409, f"Wrong input: Collection `{collection}` already exists!")
                raise error(400, message if message.startswith("Wrong input") else f"Wrong input: {message}")
        answer = {"result": result, "status": "ok", "time": time.monotonic() - start}
        ANSWERS[name].model_validate(answer)
        return 200, answer

    def collection(self, name, _):
        return self.client.get_collection(name).model_dump(mode="json", exclude_none=True)

    def exists(self, name, _):
        return {"exists": self.client.collection_exists(name)}

    def create(self, name, request):
        if self.client.collection_exists(name):
            raise ValueError("already exists")
        self.client.create_collection(
            name, vectors_config=request.vectors, sparse_vectors_config=request.sparse_vectors
        )
        return True

    def delete(self, name, _):
        return self.client.delete_collection(name)

    def upsert(self, name, request):
        if isinstance(request, m.PointsBatch):
            raise ValueError("this test server takes points as a list")
        for point in request.points:
            check_id(point.id)
        info = self.client.upsert(name, points=request.points, wait=True)
        return info.model_dump(mode="json", exclude_none=True)

    def scroll(self, name, request):
        if request.offset is not None:
            check_id(request.offset)
        points, next_offset = self.client.scroll(
            name,
            limit=request.limit or 10,
            offset=request.offset,
            with_payload=True if request.with_payload is None else request.with_payload,
            with_vectors=False if request.with_vector is None else request.with_vector,
            scroll_filter=request.filter,
        )
        return {
            "points": [p.model_dump(mode="json", exclude_none=True) for p in points],
            "next_page_offset": next_offset,
        }

    def count(self, name, request):
        exact = True if request.exact is None else request.exact
        return {"count": self.client.count(name, count_filter=request.filter, exact=exact).count}


def check_id(point_id):
    """Qdrant's ExtendedPointId: a u64 or a UUID (the pydantic model takes any int)."""
    if isinstance(point_id, int) and not 0 <= point_id < 2**64:
        raise error(400, "Format error in JSON body: data did not match any variant of untagged enum ExtendedPointId")


if __name__ == "__main__":
    serve.run(Qdrant(), serve.arguments(__doc__))
