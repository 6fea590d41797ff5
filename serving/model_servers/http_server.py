"""The REST and gRPC listeners of `namegen serve`, started together and drained together.

Follows TF Serving's model_servers/http_server.cc (the REST server: a thread per connection,
capped, with read timeouts) and server.cc's gRPC server setup and graceful shutdown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import threading
from concurrent import futures

import grpc

from serving.model_servers import grpc_services, json_tensor
from serving.model_servers.http_rest_api_handler import RestHandler
from serving.model_servers.server_core import ModelServer


class RestServer(http.server.ThreadingHTTPServer):
    """One thread per connection, capped; idle or slow connections time out.

    read_timeout: how long an idle keep-alive connection waits for the next request;
    header_timeout: from a request's first byte to the end of its head (else 408, then close);
    body_timeout: from the end of the head to the end of the declared body (else 408, close).
    """

    daemon_threads = True
    block_on_close = False
    ui = True  # serve the playground page (serving/playground.py)

    def __init__(self, address: tuple[str, int], core: ModelServer, read_timeout: float,
                 max_connections: int, header_timeout: float = 10.0,
                 body_timeout: float = 30.0):
        self.core, self.read_timeout = core, read_timeout
        self.header_timeout, self.body_timeout = header_timeout, body_timeout
        self._connections = threading.BoundedSemaphore(max_connections)
        # The listen backlog: socketserver's default of 5 resets connections when dozens of
        # clients connect at once (64 clients in `namegen bench serve` got ECONNRESET).
        self.request_queue_size = max_connections
        super().__init__(address, RestHandler)

    def process_request(self, request, client_address) -> None:
        if not self._connections.acquire(blocking=False):
            with contextlib.suppress(OSError):
                body = json_tensor.dumps({"error": "too many open connections"})
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                b"application/json\r\nConnection: close\r\nContent-Length: "
                                + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


# --- running both -------------------------------------------------------------------------------
@dataclasses.dataclass
class Endpoints:
    rest: RestServer
    grpc_server: grpc.Server
    rest_port: int
    grpc_port: int
    host: str


def start(core: ModelServer, host: str = "127.0.0.1", grpc_port: int = 8500,
          rest_port: int = 8501, read_timeout: float = 30.0,
          max_connections: int = 256, ui: bool = True, header_timeout: float = 10.0,
          body_timeout: float = 30.0, allow_reload: bool = True) -> Endpoints:
    """Binds and serves REST (a thread) and gRPC; port 0 picks a free port."""
    # Every admitted request, or with batching (no admission slots) as many calls as REST
    # takes connections: beyond the pool gRPC itself answers RESOURCE_EXHAUSTED.
    workers = max(core.admission.running + core.admission.queued, max_connections)
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        maximum_concurrent_rpcs=workers,
        options=[("grpc.max_receive_message_length", core.limits.max_request_bytes),
                 ("grpc.so_reuseport", 0)])
    grpc_services.add_services(core, grpc_server, allow_reload)
    bound_grpc = grpc_server.add_insecure_port(f"{host}:{grpc_port}")
    if not bound_grpc:
        raise OSError(f"cannot bind gRPC to {host}:{grpc_port}")
    rest = RestServer((host, rest_port), core, read_timeout, max_connections, header_timeout,
                      body_timeout)
    rest.ui = ui
    grpc_server.start()
    threading.Thread(target=rest.serve_forever, name="rest", daemon=True).start()
    return Endpoints(rest, grpc_server, rest.server_address[1], bound_grpc, host)


def drain(core: ModelServer, endpoints: Endpoints, grace: float = 30.0) -> bool:
    """Stops taking requests, lets in-flight ones finish (up to `grace` s); True if all did."""
    core.draining = True
    endpoints.rest.shutdown()
    endpoints.rest.server_close()
    stopped = endpoints.grpc_server.stop(grace)
    idle = core.wait_idle(grace)
    stopped.wait(grace)
    if core.batcher:
        core.batcher.stop(grace)
    core.manager.stop()
    return idle
