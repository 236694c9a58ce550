/* POLLRDHUP and pipe2 are GNU extensions. */
#define _GNU_SOURCE
#include "CMicroHTTPD.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What the monitor thread knows about one TCP connection, from MHD's "started" notification to
 * its "closed" one (the socket is still open until that notification returns). */
enum tracked_phase {
  AWAITING_HEADERS, /* accepted, or bytes of a next request arrived: the header deadline runs */
  IN_REQUEST,       /* headers complete: MHD and the handler own it */
  IDLE              /* keep-alive between requests: watched for the first byte of the next one */
};

struct tracked {
  struct tracked *prev, *next;
  struct MHD_Connection *connection;
  int fd;
  enum tracked_phase phase;
  int64_t phase_started_ms;
  int deadline_fired;
  int suspended;
  int hung_up;
  void *token; /* handed to the hang-up callback while suspended */
  struct adapter_serve_daemon *owner;
};

struct adapter_serve_daemon {
  struct MHD_Daemon *mhd;
  uint16_t port;
  int quiesced;
  pthread_mutex_t lock;
  /* The monitor: header deadlines and hang-up detection for suspended connections. */
  pthread_mutex_t track_lock;
  struct tracked *tracked;
  size_t tracked_count;
  pthread_t monitor;
  int monitor_running;
  int stopping;
  int wake[2];
  int64_t header_deadline_ms; /* 0 = off */
  adapter_serve_hangup_callback hangup;
  size_t header_timeouts;
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

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake_monitor(struct adapter_serve_daemon *d) {
  char byte = 1;
  ssize_t ignored = write(d->wake[1], &byte, 1);
  (void) ignored;
}

static struct tracked *tracked_for(struct MHD_Connection *connection) {
  const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info == NULL ? NULL : (struct tracked *) info->socket_context;
}

/* MHD_OPTION_NOTIFY_CONNECTION: runs on MHD's polling thread. "Closed" runs before MHD closes
 * the socket, so while an entry is listed (under track_lock) its descriptor is this connection's. */
static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
  struct adapter_serve_daemon *d = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    struct tracked *t = calloc(1, sizeof *t);
    if (t == NULL) {
      return;
    }
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    t->connection = connection;
    t->owner = d;
    t->fd = info == NULL ? -1 : info->connect_fd;
    t->phase = AWAITING_HEADERS;
    t->phase_started_ms = now_ms();
    pthread_mutex_lock(&d->track_lock);
    t->next = d->tracked;
    if (d->tracked != NULL) {
      d->tracked->prev = t;
    }
    d->tracked = t;
    d->tracked_count += 1;
    pthread_mutex_unlock(&d->track_lock);
    *socket_context = t;
    wake_monitor(d);
  } else {
    struct tracked *t = *socket_context;
    if (t == NULL) {
      return;
    }
    pthread_mutex_lock(&d->track_lock);
    if (t->prev != NULL) {
      t->prev->next = t->next;
    } else {
      d->tracked = t->next;
    }
    if (t->next != NULL) {
      t->next->prev = t->prev;
    }
    d->tracked_count -= 1;
    pthread_mutex_unlock(&d->track_lock);
    *socket_context = NULL;
    free(t);
  }
}

/* One thread for every connection: poll() the suspended ones for a peer that hung up
 * (POLLRDHUP; MHD does not watch a suspended socket), the idle keep-alive ones for the first
 * byte of a next request, and shut down any whose header block is overdue. shutdown() makes
 * MHD see end-of-stream and close the connection itself, on its own thread. */
static void *monitor_main(void *arg) {
  struct adapter_serve_daemon *d = arg;
  struct pollfd *fds = NULL;
  struct tracked **owners = NULL;
  size_t capacity = 0;
  for (;;) {
    pthread_mutex_lock(&d->track_lock);
    if (d->stopping) {
      pthread_mutex_unlock(&d->track_lock);
      break;
    }
    if (capacity < d->tracked_count + 1) {
      capacity = (d->tracked_count + 1) * 2;
      fds = realloc(fds, capacity * sizeof *fds);
      owners = realloc(owners, capacity * sizeof *owners);
    }
    size_t n = 0;
    fds[n].fd = d->wake[0];
    fds[n].events = POLLIN;
    owners[n++] = NULL;
    int64_t now = now_ms();
    int64_t timeout = 1000;
    for (struct tracked *t = d->tracked; t != NULL; t = t->next) {
      if (t->fd < 0) {
        continue;
      }
      if (t->suspended && !t->hung_up) {
        fds[n].fd = t->fd;
        fds[n].events = POLLRDHUP;
        owners[n++] = t;
      } else if (t->phase == IDLE && !t->suspended) {
        fds[n].fd = t->fd;
        fds[n].events = POLLIN | POLLRDHUP;
        owners[n++] = t;
      } else if (t->phase == AWAITING_HEADERS && d->header_deadline_ms > 0 && !t->deadline_fired) {
        int64_t left = t->phase_started_ms + d->header_deadline_ms - now;
        if (left < timeout) {
          timeout = left < 0 ? 0 : left;
        }
      }
    }
    pthread_mutex_unlock(&d->track_lock);

    int ready = poll(fds, n, (int) timeout);
    if (ready < 0 && errno != EINTR) {
      break;
    }

    pthread_mutex_lock(&d->track_lock);
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      char drain[64];
      while (read(d->wake[0], drain, sizeof drain) > 0) {
      }
    }
    now = now_ms();
    /* Entries may have closed while we polled: act only on ones still listed. */
    for (size_t i = 1; ready > 0 && i < n; i++) {
      if (fds[i].revents == 0) {
        continue;
      }
      int listed = 0;
      for (struct tracked *t = d->tracked; t != NULL; t = t->next) {
        if (t == owners[i]) {
          listed = 1;
          break;
        }
      }
      if (!listed) {
        continue;
      }
      struct tracked *t = owners[i];
      if (t->suspended && !t->hung_up && (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        t->hung_up = 1;
        if (d->hangup != NULL) {
          d->hangup(d->ctx, t->token);
        }
      } else if (t->phase == IDLE && !t->suspended) {
        t->phase = AWAITING_HEADERS;
        t->phase_started_ms = now;
      }
    }
    if (d->header_deadline_ms > 0) {
      for (struct tracked *t = d->tracked; t != NULL; t = t->next) {
        if (t->phase == AWAITING_HEADERS && !t->deadline_fired && t->fd >= 0 &&
            now - t->phase_started_ms >= d->header_deadline_ms) {
          t->deadline_fired = 1;
          d->header_timeouts += 1;
          shutdown(t->fd, SHUT_RDWR);
        }
      }
    }
    pthread_mutex_unlock(&d->track_lock);
  }
  free(fds);
  free(owners);
  return NULL;
}

/* Thousands of connections need as many descriptors: raise the soft limit toward the hard one. */
static void raise_fd_limit(unsigned int connection_limit) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return;
  }
  rlim_t wanted = (rlim_t) connection_limit + 256;
  if (limit.rlim_cur >= wanted) {
    return;
  }
  limit.rlim_cur = (limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted) ? wanted : limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

adapter_serve_daemon *adapter_serve_start_daemon(const char *host,
                                                 uint16_t port,
                                                 unsigned int connection_limit,
                                                 unsigned int per_ip_limit,
                                                 unsigned int timeout_seconds,
                                                 unsigned int header_deadline_ms,
                                                 size_t memory_limit_bytes,
                                                 MHD_AccessHandlerCallback handler,
                                                 MHD_RequestCompletedCallback completed,
                                                 adapter_serve_log_callback log,
                                                 adapter_serve_hangup_callback hangup,
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
  if (pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    set_error(error_buf, error_buf_len, "cannot create the monitor's wake-up pipe");
    free(d);
    return NULL;
  }
  pthread_mutex_init(&d->lock, NULL);
  pthread_mutex_init(&d->error_lock, NULL);
  pthread_mutex_init(&d->track_lock, NULL);
  d->header_deadline_ms = header_deadline_ms;
  d->hangup = hangup;
  d->log = log;
  d->ctx = ctx;
  d->start_error = error_buf;
  d->start_error_len = error_buf_len;

  /* One internal epoll thread serves every connection (no thread per connection, no
   * FD_SETSIZE ceiling); handlers that take long suspend their connection and resume it when
   * done. ITC is required for MHD_quiesce_daemon and for resuming from other threads. */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                       MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (address.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  if (memory_limit_bytes == 0) {
    memory_limit_bytes = 32 * 1024;
  }
  raise_fd_limit(connection_limit);
  d->mhd = MHD_start_daemon(flags, port, NULL, NULL, handler, ctx,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &address,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip_limit,
                            MHD_OPTION_NOTIFY_CONNECTION, notify_connection, d,
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
    pthread_mutex_destroy(&d->track_lock);
    close(d->wake[0]);
    close(d->wake[1]);
    free(d);
    return NULL;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
  d->port = (info != NULL) ? info->port : port;
  d->monitor_running = pthread_create(&d->monitor, NULL, monitor_main, d) == 0;
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
  pthread_mutex_lock(&daemon->track_lock);
  daemon->stopping = 1;
  pthread_mutex_unlock(&daemon->track_lock);
  wake_monitor(daemon);
  if (daemon->monitor_running) {
    pthread_join(daemon->monitor, NULL);
  }
  MHD_stop_daemon(daemon->mhd);
  pthread_mutex_destroy(&daemon->lock);
  pthread_mutex_destroy(&daemon->error_lock);
  pthread_mutex_destroy(&daemon->track_lock);
  close(daemon->wake[0]);
  close(daemon->wake[1]);
  free(daemon);
}

void adapter_serve_headers_received(struct MHD_Connection *connection) {
  struct tracked *t = tracked_for(connection);
  struct adapter_serve_daemon *daemon = t == NULL ? NULL : t->owner;
  if (t == NULL) {
    return;
  }
  pthread_mutex_lock(&daemon->track_lock);
  t->phase = IN_REQUEST;
  pthread_mutex_unlock(&daemon->track_lock);
}

void adapter_serve_request_finished(struct MHD_Connection *connection) {
  struct tracked *t = tracked_for(connection);
  struct adapter_serve_daemon *daemon = t == NULL ? NULL : t->owner;
  if (t == NULL) {
    return;
  }
  pthread_mutex_lock(&daemon->track_lock);
  t->phase = IDLE;
  t->suspended = 0;
  t->hung_up = 0;
  t->token = NULL;
  pthread_mutex_unlock(&daemon->track_lock);
  wake_monitor(daemon);
}

void adapter_serve_suspend(struct MHD_Connection *connection, void *token) {
  struct tracked *t = tracked_for(connection);
  struct adapter_serve_daemon *daemon = t == NULL ? NULL : t->owner;
  MHD_suspend_connection(connection);
  if (t == NULL) {
    return;
  }
  pthread_mutex_lock(&daemon->track_lock);
  t->suspended = 1;
  t->hung_up = 0;
  t->token = token;
  pthread_mutex_unlock(&daemon->track_lock);
  wake_monitor(daemon);
}

void adapter_serve_resume(struct MHD_Connection *connection) {
  struct tracked *t = tracked_for(connection);
  struct adapter_serve_daemon *daemon = t == NULL ? NULL : t->owner;
  if (t != NULL && daemon != NULL) {
    pthread_mutex_lock(&daemon->track_lock);
    t->suspended = 0;
    t->token = NULL;
    pthread_mutex_unlock(&daemon->track_lock);
  }
  MHD_resume_connection(connection);
}

size_t adapter_serve_open_connections(adapter_serve_daemon *daemon) {
  pthread_mutex_lock(&daemon->track_lock);
  size_t n = daemon->tracked_count;
  pthread_mutex_unlock(&daemon->track_lock);
  return n;
}

size_t adapter_serve_header_timeouts(adapter_serve_daemon *daemon) {
  pthread_mutex_lock(&daemon->track_lock);
  size_t n = daemon->header_timeouts;
  pthread_mutex_unlock(&daemon->track_lock);
  return n;
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
