#!/usr/bin/env python3
"""A minimal OTLP/HTTP trace receiver for tests: the gateway's exporter speaks real OTLP
(protobuf over HTTP), decoded here with the OpenTelemetry project's own message definitions
(PyPI `opentelemetry-proto`), so a test sees exactly what a collector would.

Usage: otlp_sink.py PORT OUTFILE — listens on 127.0.0.1:PORT, accepts POST /v1/traces
(`application/x-protobuf`, gzip or not), appends one JSON line per span to OUTFILE:
{"trace_id", "span_id", "parent_span_id", "name", "kind", "start_ns", "end_ns",
"attributes", "service"}, and answers an empty ExportTraceServiceResponse.
"""

import gzip
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [value_of(item) for item in value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.values}
    if kind == "bytes_value":
        return value.hex()
    return value


def spans_of(request):
    for resource_spans in request.resource_spans:
        resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "attributes": {kv.key: value_of(kv.value) for kv in span.attributes},
                    "service": resource.get("service.name"),
                }


class Receiver(BaseHTTPRequestHandler):
    out = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with open(Receiver.out, "a", encoding="utf-8") as out:
            for span in spans_of(request):
                out.write(json.dumps(span) + "\n")
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port, Receiver.out = int(sys.argv[1]), sys.argv[2]
    open(Receiver.out, "a").close()
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print("listening", flush=True)
    server.serve_forever()
