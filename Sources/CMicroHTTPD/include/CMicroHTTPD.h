// Thin C layer over libmicrohttpd for HTTPCore.
//
// MHD_start_daemon is variadic and cannot be called from Swift, and host resolution, log
// formatting (va_list) and client-address formatting are easier to get right in C. So is the
// monitor thread: it owns the listening socket and gates each new connection until its first
// header block is complete and its framing sound (then MHD_add_connection), enforces the header
// deadline, and polls suspended connections for a peer that hung up. Everything else (the access
// handler, body accumulation, responses) stays in Swift.
#ifndef ADAPTER_SERVE_CMICROHTTPD_H
#define ADAPTER_SERVE_CMICROHTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Receives one formatted libmicrohttpd diagnostic line (no trailing newline).
typedef void (*adapter_serve_log_callback)(void *ctx, const char *message);

/// Called on the monitor thread when the peer of a suspended connection hangs up; token is
/// what adapter_serve_suspend was given.
typedef void (*adapter_serve_hangup_callback)(void *ctx, void *token);

/// A running daemon plus what the shim needs to quiesce it and report errors.
typedef struct adapter_serve_daemon adapter_serve_daemon;

/// Starts a daemon with one internal epoll thread for all connections (suspend/resume allowed)
/// and a monitor thread for header deadlines and hang-ups of suspended connections.
///
/// host: IPv4 dotted quad, IPv6 literal, or a name such as "localhost" (IPv4 preferred).
/// port: 0 picks a free port; read it back with adapter_serve_bound_port.
/// connection_limit / per_ip_limit / timeout_seconds / memory_limit_bytes:
/// MHD_OPTION_CONNECTION_LIMIT (RLIMIT_NOFILE is raised to fit it), MHD_OPTION_PER_IP_CONNECTION_LIMIT
/// (0 = off), MHD_OPTION_CONNECTION_TIMEOUT (inactivity) and MHD_OPTION_CONNECTION_MEMORY_LIMIT
/// (0 = MHD default); the memory limit bounds the request line plus headers.
/// header_deadline_ms: a connection whose header block is not complete this long after it was
/// accepted (or after the first byte of a keep-alive request) is shut down; 0 = off.
/// max_body_bytes: a first request declaring a larger Content-Length gets a JSON 413 from the
/// gate (see shim.c: the gate answers framing errors itself, once, as JSON).
/// handler/completed/log all receive ctx. URL and query arguments are passed to the handler
/// still percent-encoded, so the caller decides how to decode them.
/// Returns NULL on failure, with a message in error_buf.
adapter_serve_daemon *adapter_serve_start_daemon(const char *host,
                                                 uint16_t port,
                                                 unsigned int connection_limit,
                                                 unsigned int per_ip_limit,
                                                 unsigned int timeout_seconds,
                                                 unsigned int header_deadline_ms,
                                                 size_t memory_limit_bytes,
                                                 uint64_t max_body_bytes,
                                                 MHD_AccessHandlerCallback handler,
                                                 MHD_RequestCompletedCallback completed,
                                                 adapter_serve_log_callback log,
                                                 adapter_serve_hangup_callback hangup,
                                                 void *ctx,
                                                 char *error_buf,
                                                 size_t error_buf_len);

/// The port the listening socket is bound to.
uint16_t adapter_serve_bound_port(const adapter_serve_daemon *daemon);

/// Stops accepting new connections (closes the listening socket); existing connections
/// continue. Safe to call more than once.
void adapter_serve_quiesce(adapter_serve_daemon *daemon);

/// Quiesces, closes all connections, joins all threads and frees the daemon.
/// Blocks until handlers that are still running return.
void adapter_serve_stop(adapter_serve_daemon *daemon);

/// The request's header block is complete (first access-handler call): its deadline stops.
void adapter_serve_headers_received(struct MHD_Connection *connection);

/// The request ended (MHD_OPTION_NOTIFY_COMPLETED): the connection idles until a next request.
void adapter_serve_request_finished(struct MHD_Connection *connection);

/// MHD_suspend_connection, plus watching the socket for a hang-up (reported with token).
/// Call only from inside the access handler.
void adapter_serve_suspend(struct MHD_Connection *connection, void *token);

/// Stops the hang-up watch and MHD_resume_connection; callable from any thread.
void adapter_serve_resume(struct MHD_Connection *connection);

/// Open TCP connections, counted from MHD's connection notifications.
size_t adapter_serve_open_connections(adapter_serve_daemon *daemon);

/// Connections shut down because their header block missed the deadline.
size_t adapter_serve_header_timeouts(adapter_serve_daemon *daemon);

/// A response owning a copy of size bytes from data (data may be NULL when size is 0).
struct MHD_Response *adapter_serve_response_create(const void *data, size_t size);

/// What a stream reader returns besides a byte count: the body is complete, or it must be cut
/// (the connection is closed without the chunked terminator, so the client sees a truncated
/// body). Equal to MHD_CONTENT_READER_END_OF_STREAM / _END_WITH_ERROR (checked in shim.c).
enum {
  ADAPTER_SERVE_STREAM_END = -1,
  ADAPTER_SERVE_STREAM_ERROR = -2
};

/// Fills buf with at most max bytes of the stream's body and returns how many, or one of the
/// ADAPTER_SERVE_STREAM_ values. Returning 0 is only allowed after suspending the connection
/// (adapter_serve_suspend from inside this callback): libmicrohttpd calls it again once the
/// connection is resumed. Runs on libmicrohttpd's thread.
typedef long (*adapter_serve_stream_reader)(void *cls, char *buf, size_t max);

/// Called once when libmicrohttpd no longer needs the stream (the response was destroyed).
typedef void (*adapter_serve_stream_free)(void *cls);

/// A response of unknown length (sent with chunked transfer encoding to HTTP/1.1 clients, or
/// ended by closing the connection for HTTP/1.0) whose bytes come from reader.
struct MHD_Response *adapter_serve_stream_response_create(adapter_serve_stream_reader reader,
                                                          void *cls,
                                                          adapter_serve_stream_free free_cls);

/// Adds a header; returns 0 when MHD rejects it (e.g. CR/LF in the value).
int adapter_serve_response_add_header(struct MHD_Response *response,
                                      const char *name,
                                      const char *value);

/// Queues the response and drops the caller's reference to it. Returns 0 on failure.
int adapter_serve_response_queue(struct MHD_Connection *connection,
                                 unsigned int status,
                                 struct MHD_Response *response);

/// Writes the peer's numeric address (e.g. "127.0.0.1", "::1") into buf.
/// Returns 0 on success, -1 when unknown.
int adapter_serve_client_address(struct MHD_Connection *connection, char *buf, size_t buf_len);

/// Bytes of the request line plus headers plus the blank line (header_size.c; issue 18 uses it
/// to find the end of the header block in libmicrohttpd's read buffer). 0 when unknown.
size_t adapter_serve_request_header_size(struct MHD_Connection *connection);

#ifdef __cplusplus
}
#endif

#endif
