#include "CMicroHTTPD.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct adapter_serve_daemon {
  struct MHD_Daemon *mhd;
  uint16_t port;
  int quiesced;
  pthread_mutex_t lock;
  pthread_mutex_t error_lock; /* separate from lock: MHD may log while quiescing */
  adapter_serve_log_callback log;
  void *ctx;
  /* Only written while MHD_start_daemon runs, so start failures can be explained. */
  char *start_error;
  size_t start_error_len;
};

static void set_error(char *buf, size_t len, const char *message) {
  if (buf != NULL && len > 0) {
    snprintf(buf, len, "%s", message);
  }
}

/* MHD reports through a va_list; format it here so Swift only sees a plain string. */
static void shim_logger(void *cls, const char *format, va_list ap) {
  struct adapter_serve_daemon *d = cls;
  char message[512];
  vsnprintf(message, sizeof message, format, ap);
  size_t n = strlen(message);
  while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r')) {
    message[--n] = '\0';
  }
  pthread_mutex_lock(&d->error_lock);
  if (d->start_error != NULL) {
    set_error(d->start_error, d->start_error_len, message);
  }
  pthread_mutex_unlock(&d->error_lock);
  if (d->log != NULL) {
    d->log(d->ctx, message);
  }
}

/* Leave URL and query arguments percent-encoded: MHD's own decoding turns %2F into '/' and
 * %00 into a string terminator before the application can tell, and does not map '+'. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *s) {
  (void) cls;
  (void) connection;
  return strlen(s);
}

/* Numeric literals first; names (e.g. "localhost") resolve with IPv4 preferred so that the
 * bound address matches what most clients try first. */
static int resolve_host(const char *host, uint16_t port, struct sockaddr_storage *out, char *error_buf,
                        size_t error_buf_len) {
  struct addrinfo hints;
  struct addrinfo *results = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  const char *name = (host == NULL || host[0] == '\0') ? "0.0.0.0" : host;
  int rc = getaddrinfo(name, NULL, &hints, &results);
  if (rc != 0 || results == NULL) {
    char message[256];
    snprintf(message, sizeof message, "cannot resolve host '%s': %s", name, gai_strerror(rc));
    set_error(error_buf, error_buf_len, message);
    return -1;
  }
  const struct addrinfo *chosen = NULL;
  for (const struct addrinfo *ai = results; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      chosen = ai;
      break;
    }
    if (ai->ai_family == AF_INET6 && chosen == NULL) {
      chosen = ai;
    }
  }
  if (chosen == NULL) {
    freeaddrinfo(results);
    set_error(error_buf, error_buf_len, "host has no IPv4 or IPv6 address");
    return -1;
  }
  memset(out, 0, sizeof *out);
  memcpy(out, chosen->ai_addr, chosen->ai_addrlen);
  if (chosen->ai_family == AF_INET) {
    ((struct sockaddr_in *) out)->sin_port = htons(port);
  } else {
    ((struct sockaddr_in6 *) out)->sin6_port = htons(port);
  }
  freeaddrinfo(results);
  return 0;
}

adapter_serve_daemon *adapter_serve_start_daemon(const char *host,
                                                 uint16_t port,
                                                 unsigned int connection_limit,
                                                 unsigned int timeout_seconds,
                                                 size_t memory_limit_bytes,
                                                 MHD_AccessHandlerCallback handler,
                                                 MHD_RequestCompletedCallback completed,
                                                 adapter_serve_log_callback log,
                                                 void *ctx,
                                                 char *error_buf,
                                                 size_t error_buf_len) {
  set_error(error_buf, error_buf_len, "");
  struct sockaddr_storage address;
  if (resolve_host(host, port, &address, error_buf, error_buf_len) != 0) {
    return NULL;
  }
  struct adapter_serve_daemon *d = calloc(1, sizeof *d);
  if (d == NULL) {
    set_error(error_buf, error_buf_len, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&d->lock, NULL);
  pthread_mutex_init(&d->error_lock, NULL);
  d->log = log;
  d->ctx = ctx;
  d->start_error = error_buf;
  d->start_error_len = error_buf_len;

  /* ITC is required for MHD_quiesce_daemon with an internal polling thread; poll() avoids
   * select()'s FD_SETSIZE ceiling in a process that may hold many descriptors. */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                       MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (address.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  if (memory_limit_bytes == 0) {
    memory_limit_bytes = 32 * 1024;
  }
  d->mhd = MHD_start_daemon(flags, port, NULL, NULL, handler, ctx,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit_bytes,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, ctx,
                            MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, shim_logger, d,
                            MHD_OPTION_END);
  pthread_mutex_lock(&d->error_lock);
  d->start_error = NULL;
  d->start_error_len = 0;
  pthread_mutex_unlock(&d->error_lock);
  if (d->mhd == NULL) {
    if (error_buf != NULL && error_buf_len > 0 && error_buf[0] == '\0') {
      set_error(error_buf, error_buf_len, "MHD_start_daemon failed (address in use or not available?)");
    }
    pthread_mutex_destroy(&d->lock);
    pthread_mutex_destroy(&d->error_lock);
    free(d);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  d->port = (info != NULL) ? info->port : port;
  return d;
}

uint16_t adapter_serve_bound_port(const adapter_serve_daemon *daemon) {
  return daemon == NULL ? 0 : daemon->port;
}

void adapter_serve_quiesce(adapter_serve_daemon *daemon) {
  if (daemon == NULL) {
    return;
  }
  pthread_mutex_lock(&daemon->lock);
  if (!daemon->quiesced) {
    daemon->quiesced = 1;
    MHD_socket fd = MHD_quiesce_daemon(daemon->mhd);
    if (fd != MHD_INVALID_SOCKET) {
      close(fd);
    }
  }
  pthread_mutex_unlock(&daemon->lock);
}

void adapter_serve_stop(adapter_serve_daemon *daemon) {
  if (daemon == NULL) {
    return;
  }
  adapter_serve_quiesce(daemon);
  MHD_stop_daemon(daemon->mhd);
  pthread_mutex_destroy(&daemon->lock);
  pthread_mutex_destroy(&daemon->error_lock);
  free(daemon);
}

struct MHD_Response *adapter_serve_response_create(const void *data, size_t size) {
  static const char empty = 0;
  return MHD_create_response_from_buffer(size, (void *) (size == 0 || data == NULL ? &empty : data),
                                         MHD_RESPMEM_MUST_COPY);
}

int adapter_serve_response_add_header(struct MHD_Response *response, const char *name, const char *value) {
  return MHD_add_response_header(response, name, value) == MHD_YES ? 1 : 0;
}

int adapter_serve_response_queue(struct MHD_Connection *connection, unsigned int status,
                                 struct MHD_Response *response) {
  enum MHD_Result result = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return result == MHD_YES ? 1 : 0;
}

int adapter_serve_client_address(struct MHD_Connection *connection, char *buf, size_t buf_len) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == NULL || info->client_addr == NULL || buf == NULL || buf_len == 0) {
    return -1;
  }
  const struct sockaddr *sa = info->client_addr;
  const char *ok = NULL;
  if (sa->sa_family == AF_INET) {
    ok = inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) buf_len);
  } else if (sa->sa_family == AF_INET6) {
    ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf, (socklen_t) buf_len);
  }
  return ok == NULL ? -1 : 0;
}
