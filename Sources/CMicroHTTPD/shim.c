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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* What the monitor thread knows about one TCP connection, from MHD's "started" notification to
 * its "closed" one (the socket is still open until that notification returns). */
/* How long a hang-up must stand before a connection still receiving its request is ended. */
#define RECEIVE_HANGUP_GRACE_MS 1000

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
  int64_t rdhup_ms; /* when a peer hang-up was first seen while MHD still reads the request; 0 = not */
  void *token; /* handed to the hang-up callback while suspended */
  struct adapter_serve_daemon *owner;
};

/* A connection we accepted whose first header block is not complete yet. libmicrohttpd only
 * gets it (MHD_add_connection) once the block is in and its framing headers are sound. */
struct gated {
  struct gated *next;
  int fd;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int64_t accepted_ms;
  int64_t active_ms;   /* when the last new bytes arrived */
  size_t seen;         /* bytes peeked so far */
};

struct adapter_serve_daemon {
  struct MHD_Daemon *mhd;
  int listen_fd;          /* ours, not libmicrohttpd's: -1 once quiesced */
  struct gated *gate;
  size_t gated_count;
  unsigned int connection_limit;
  unsigned int per_ip_limit;
  size_t header_limit;    /* bytes a header block may take (MHD's memory limit) */
  uint64_t max_body;      /* a declared Content-Length above this is answered 413 here */
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
  int64_t idle_ms;            /* MHD's inactivity timeout, applied to gated connections too */
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

/* Sends a whole JSON error response on a socket libmicrohttpd never saw, then closes it after
 * consuming what the client sent (closing with unread bytes would send RST and could destroy
 * the response before the client reads it). */
static void answer_and_close(int fd, int status, const char *reason, const char *code, const char *message) {
  char body[512];
  int body_len = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
  char response[1024];
  int len = snprintf(response, sizeof response,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, reason, body_len, body);
  char scratch[4096];
  while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {
  }
  if (len > 0) {
    ssize_t ignored = send(fd, response, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void) ignored;
  }
  shutdown(fd, SHUT_WR);
  while (recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {
  }
  close(fd);
}

static int same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) {
    return 0;
  }
  if (a->ss_family == AF_INET) {
    return ((const struct sockaddr_in *) a)->sin_addr.s_addr == ((const struct sockaddr_in *) b)->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr, &((const struct sockaddr_in6 *) b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
  }
  return 0;
}

static int is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int syntax_error(const char **code, const char *which, char *message, size_t message_len, const char *text, int status) {
  *code = which;
  snprintf(message, message_len, "%s", text);
  return status;
}

/* The request line and header lines that libmicrohttpd 0.9.75 would answer with its own HTML
 * page, or by closing the connection without a word (RFC 9112 asks for a 400 on each): a request
 * line that is not METHOD SP target SP HTTP-version (400; 505 for a version other than HTTP/1.0
 * or HTTP/1.1), a header line without a colon, with whitespace before the colon, a name that is
 * not a token or a folded continuation line, a control character in a header value or the target
 * (400), a Transfer-Encoding other than chunked (400),
 * and HTTP/1.1 without Host (400). Leading empty lines are skipped, as libmicrohttpd does.
 * Returns 0 when fine, else the status. */
static int check_syntax(const char *head, size_t len, const char **code, char *message, size_t message_len) {
  size_t pos = 0;
  while (pos < len && (head[pos] == '\r' || head[pos] == '\n')) pos++;
  const char *line = head + pos;
  const char *nl = pos < len ? memchr(line, '\n', len - pos) : NULL;
  if (nl == NULL) {
    return 0;
  }
  size_t n = (size_t) (nl - line);
  if (n > 0 && line[n - 1] == '\r') n--;
  const char *sp1 = memchr(line, ' ', n);
  const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', n - (size_t) (sp1 + 1 - line)) : NULL;
  if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1) {
    return syntax_error(code, "invalid_request_line", message, message_len,
                        "the request line must be a method, a target and the protocol version, separated by single spaces", 400);
  }
  for (const char *c = line; c < sp1; c++) {
    if (!is_tchar((unsigned char) *c)) {
      return syntax_error(code, "invalid_method", message, message_len, "the request method is not a valid token", 400);
    }
  }
  for (const char *c = sp1 + 1; c < sp2; c++) {
    unsigned char b = (unsigned char) *c;
    if (b <= 0x20 || b == 0x7F) {
      return syntax_error(code, "invalid_request_line", message, message_len,
                          "the request target contains a control character", 400);
    }
  }
  const char *version = sp2 + 1;
  size_t vlen = (size_t) (line + n - version);
  int http11 = vlen == 8 && memcmp(version, "HTTP/1.1", 8) == 0;
  if (!http11 && !(vlen == 8 && memcmp(version, "HTTP/1.0", 8) == 0)) {
    if (vlen >= 5 && memcmp(version, "HTTP/", 5) == 0) {
      return syntax_error(code, "http_version_not_supported", message, message_len,
                          "only HTTP versions 1.0 and 1.1 are served", 505);
    }
    return syntax_error(code, "invalid_request_line", message, message_len,
                        "the request line must end with the protocol version, 1.0 or 1.1", 400);
  }
  int have_host = 0;
  for (const char *start = nl + 1; start < head + len;) {
    const char *end = memchr(start, '\n', len - (size_t) (start - head));
    if (end == NULL) break;
    size_t m = (size_t) (end - start);
    if (m > 0 && start[m - 1] == '\r') m--;
    if (m == 0) break;   /* the empty line that ends the block */
    if (start[0] == ' ' || start[0] == '\t') {
      return syntax_error(code, "invalid_header", message, message_len, "folded (continued) header lines are not accepted", 400);
    }
    const char *colon = memchr(start, ':', m);
    if (colon == NULL || colon == start) {
      return syntax_error(code, "invalid_header", message, message_len, "a header line has no name or no colon", 400);
    }
    if (colon[-1] == ' ' || colon[-1] == '\t') {
      return syntax_error(code, "invalid_header", message, message_len, "whitespace between a header name and its colon is not allowed", 400);
    }
    for (const char *c = start; c < colon; c++) {
      if (!is_tchar((unsigned char) *c)) {
        return syntax_error(code, "invalid_header", message, message_len, "a header name is not a valid token", 400);
      }
    }
    for (const char *c = colon + 1; c < start + m; c++) {
      /* RFC 9110 5.5: a field value is visible characters, spaces and tabs; a NUL, CR or other
       * control character in one is rejected rather than passed on to the application. */
      unsigned char b = (unsigned char) *c;
      if ((b < 0x20 && b != '\t') || b == 0x7F) {
        return syntax_error(code, "invalid_header", message, message_len,
                            "a header value contains a control character (NUL, CR or similar)", 400);
      }
    }
    size_t name_len = (size_t) (colon - start);
    const char *v = colon + 1, *v_end = start + m;
    while (v < v_end && (*v == ' ' || *v == '\t')) v++;
    while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t')) v_end--;
    if (name_len == 4 && strncasecmp(start, "host", 4) == 0) {
      have_host = 1;
    } else if (name_len == 17 && strncasecmp(start, "transfer-encoding", 17) == 0
               && !(v_end - v == 7 && strncasecmp(v, "chunked", 7) == 0)) {
      /* RFC 9112 suggests 501; a 4xx keeps "the client sent what we cannot take" apart from
       * our own failures, which are the only 5xx (besides 503) this server answers. */
      return syntax_error(code, "unsupported_transfer_encoding", message, message_len,
                          "only Transfer-Encoding: chunked is supported", 400);
    }
    start = end + 1;
  }
  if (http11 && !have_host) {
    return syntax_error(code, "missing_host", message, message_len, "a Host header is required in a version 1.1 request", 400);
  }
  return 0;
}

/* The framing headers of a complete header block, checked the way libmicrohttpd would reject
 * them, so the one response is ours. libmicrohttpd 0.9.75 answers a bad or overflowing
 * Content-Length from parse_connection_headers(), whose caller then overwrites the connection
 * state (HEADERS_SENDING -> HEADERS_PROCESSED) and builds the header block a second time at
 * START_REPLY: two header blocks, then the HTML body. Returns 0 when fine, else the status. */
static int check_framing(const char *head, size_t len, uint64_t max_body, const char **code, char *message, size_t message_len) {
  const char *line = memchr(head, '\n', len);   /* skip the request line */
  int have_length = 0;
  uint64_t length = 0;
  while (line != NULL && (size_t) (line - head) + 1 < len) {
    const char *start = line + 1;
    const char *end = memchr(start, '\n', len - (size_t) (start - head));
    if (end == NULL) {
      break;
    }
    size_t n = (size_t) (end - start);
    if (n > 0 && start[n - 1] == '\r') {
      n--;
    }
    static const char name[] = "content-length:";
    if (n >= sizeof name - 1 && strncasecmp(start, name, sizeof name - 1) == 0) {
      const char *v = start + sizeof name - 1;
      const char *v_end = start + n;
      while (v < v_end && (*v == ' ' || *v == '\t')) v++;
      while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t')) v_end--;
      if (v == v_end) {
        *code = "invalid_content_length";
        snprintf(message, message_len, "Content-Length must be a non-negative decimal integer");
        return 400;
      }
      uint64_t value = 0;
      int overflow = 0;
      for (const char *c = v; c < v_end; c++) {
        if (*c < '0' || *c > '9') {
          *code = "invalid_content_length";
          snprintf(message, message_len, "Content-Length must be a non-negative decimal integer");
          return 400;
        }
        if (value > (UINT64_MAX - (uint64_t) (*c - '0')) / 10) {
          overflow = 1;
        } else {
          value = value * 10 + (uint64_t) (*c - '0');
        }
      }
      if (overflow || value > max_body) {
        *code = "payload_too_large";
        snprintf(message, message_len, "the declared Content-Length exceeds the request body limit of %llu bytes",
                 (unsigned long long) max_body);
        return 413;
      }
      if (have_length && value != length) {
        *code = "invalid_content_length";
        snprintf(message, message_len, "the request has several different Content-Length headers");
        return 400;
      }
      have_length = 1;
      length = value;
    }
    line = end;
  }
  return 0;
}

static const char *reason_for(int status) {
  switch (status) {
  case 400: return "Bad Request";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 505: return "HTTP Version Not Supported";
  default: return "Error";
  }
}

/* Accepts every pending connection into the gate, or refuses it at once when the server or the
 * client's address is at its limit. Called with track_lock held. */
static void gate_accept(struct adapter_serve_daemon *d, int64_t now) {
  for (;;) {
    struct sockaddr_storage addr;
    socklen_t addrlen = sizeof addr;
    int fd = accept4(d->listen_fd, (struct sockaddr *) &addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    int refuse = d->tracked_count + d->gated_count >= d->connection_limit;
    if (!refuse && d->per_ip_limit > 0) {
      unsigned int same = 0;
      for (struct gated *g = d->gate; g != NULL; g = g->next) {
        same += (unsigned int) same_address(&g->addr, &addr);
      }
      for (struct tracked *t = d->tracked; t != NULL; t = t->next) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(t->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info != NULL && info->client_addr != NULL && info->client_addr->sa_family == addr.ss_family) {
          struct sockaddr_storage other;
          memset(&other, 0, sizeof other);
          memcpy(&other, info->client_addr,
                 addr.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
          same += (unsigned int) same_address(&other, &addr);
        }
      }
      refuse = same >= d->per_ip_limit;
    }
    if (refuse) {
      if (d->log != NULL) {
        d->log(d->ctx, "connection limit reached (server or per-address); closing inbound connection");
      }
      close(fd);
      continue;
    }
    struct gated *g = calloc(1, sizeof *g);
    if (g == NULL) {
      close(fd);
      continue;
    }
    g->fd = fd;
    g->addr = addr;
    g->addrlen = addrlen;
    g->accepted_ms = now;
    g->active_ms = now;
    g->next = d->gate;
    d->gate = g;
    d->gated_count += 1;
  }
}

/* Looks at what a gated connection has sent so far (without consuming it). Returns 1 when the
 * connection left the gate (handed to libmicrohttpd, answered, or closed). Called with
 * track_lock held; MHD_add_connection only signals libmicrohttpd's thread (ITC). */
static int gate_inspect(struct adapter_serve_daemon *d, struct gated *g) {
  char *buf = malloc(d->header_limit + 1);
  if (buf == NULL) {
    close(g->fd);
    return 1;
  }
  ssize_t n = recv(g->fd, buf, d->header_limit + 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    free(buf);
    close(g->fd);
    return 1;
  }
  if (n < 0) {
    free(buf);
    return 0;
  }
  size_t len = (size_t) n;
  /* The block ends at an empty line; like libmicrohttpd, accept bare LF line endings too. */
  const char *end = NULL;
  for (size_t i = 0; i + 1 < len && end == NULL; i++) {
    if (buf[i] != '\n') {
      continue;
    }
    if (buf[i + 1] == '\n') {
      end = buf + i + 2;
    } else if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') {
      end = buf + i + 3;
    }
  }
  if (end == NULL) {
    if (len > d->header_limit) {
      free(buf);
      answer_and_close(g->fd, 431, reason_for(431), "headers_too_large", "the request line and headers exceed the server's limit");
      return 1;
    }
    /* Wake again only when more bytes than these have arrived (SO_RCVLOWAT), not on every poll. */
    if (len > g->seen) {
      g->seen = len;
      g->active_ms = now_ms();
    }
    int lowat = (int) len + 1;
    setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    free(buf);
    return 0;
  }
  const char *code = NULL;
  char message[200];
  int status = check_syntax(buf, (size_t) (end - buf), &code, message, sizeof message);
  if (status == 0) {
    status = check_framing(buf, (size_t) (end - buf), d->max_body, &code, message, sizeof message);
  }
  free(buf);
  if (status != 0) {
    answer_and_close(g->fd, status, reason_for(status), code, message);
    return 1;
  }
  int one = 1;
  setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  MHD_add_connection(d->mhd, g->fd, (const struct sockaddr *) &g->addr, g->addrlen);
  return 1;
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
    if (capacity < d->tracked_count + d->gated_count + 2) {
      capacity = (d->tracked_count + d->gated_count + 2) * 2;
      fds = realloc(fds, capacity * sizeof *fds);
      owners = realloc(owners, capacity * sizeof *owners);
    }
    size_t n = 0;
    fds[n].fd = d->wake[0];
    fds[n].events = POLLIN;
    owners[n++] = NULL;
    fds[n].fd = d->listen_fd;   /* -1 once quiesced: poll ignores it */
    fds[n].events = POLLIN;
    owners[n++] = NULL;
    size_t first_gated = n;
    int64_t now = now_ms();
    int64_t timeout = 1000;
    for (struct gated *g = d->gate; g != NULL; g = g->next) {
      fds[n].fd = g->fd;
      fds[n].events = POLLIN | POLLRDHUP;
      owners[n++] = (struct tracked *) (void *) g;
      if (d->header_deadline_ms > 0) {
        int64_t left = g->accepted_ms + d->header_deadline_ms - now;
        if (left < timeout) {
          timeout = left < 0 ? 0 : left;
        }
      }
      if (d->idle_ms > 0) {
        int64_t left = g->active_ms + d->idle_ms - now;
        if (left < timeout) {
          timeout = left < 0 ? 0 : left;
        }
      }
    }
    size_t first_tracked = n;
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
      } else if (t->phase == IN_REQUEST && !t->suspended && t->rdhup_ms == 0) {
        fds[n].fd = t->fd;
        fds[n].events = POLLRDHUP;
        owners[n++] = t;
      } else if (t->phase == IN_REQUEST && !t->suspended && t->rdhup_ms > 0) {
        int64_t left = t->rdhup_ms + RECEIVE_HANGUP_GRACE_MS - now;
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
    /* The gate: only this thread adds or removes gated connections, so the entries polled are
     * still the list's. */
    if (ready > 0) {
      for (size_t i = first_gated; i < first_tracked; i++) {
        struct gated *g = (struct gated *) (void *) owners[i];
        if (fds[i].revents != 0 && gate_inspect(d, g)) {
          g->fd = -1;
        } else if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
          /* The client stopped sending before its header block was complete: no more bytes can
           * come, so answer now rather than poll a readable socket until the header deadline. */
          answer_and_close(g->fd, 400, reason_for(400), "incomplete_request",
                           "the connection was closed for sending before the request headers were complete");
          g->fd = -1;
        }
      }
    }
    for (struct gated **link = &d->gate; *link != NULL;) {
      struct gated *g = *link;
      if (g->fd >= 0 && d->header_deadline_ms > 0 && now - g->accepted_ms >= d->header_deadline_ms) {
        answer_and_close(g->fd, 408, reason_for(408), "header_timeout", "the request headers did not arrive in time");
        d->header_timeouts += 1;
        g->fd = -1;
      } else if (g->fd >= 0 && d->idle_ms > 0 && now - g->active_ms >= d->idle_ms) {
        close(g->fd);   /* idle: MHD's inactivity timeout closes without a response too */
        g->fd = -1;
      }
      if (g->fd < 0) {
        *link = g->next;
        d->gated_count -= 1;
        free(g);
      } else {
        link = &g->next;
      }
    }
    if (ready > 0 && (fds[1].revents & POLLIN) && d->listen_fd >= 0 && fds[1].fd == d->listen_fd) {
      gate_accept(d, now);
    }
    /* Entries may have closed while we polled: act only on ones still listed. */
    for (size_t i = first_tracked; ready > 0 && i < n; i++) {
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
      } else if (t->phase == IN_REQUEST && !t->suspended && t->rdhup_ms == 0 &&
                 (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        t->rdhup_ms = now;
      }
    }
    /* A client that stopped sending while libmicrohttpd still waits for the rest of its body
     * (fewer bytes than Content-Length) can never complete the request; MHD alone would hold it
     * until the idle timeout. Once the hang-up has stood for a grace period with nothing left
     * unread and no handler holding the connection, end it. */
    for (struct tracked *t = d->tracked; t != NULL; t = t->next) {
      if (t->phase == IN_REQUEST && !t->suspended && t->rdhup_ms > 0 && t->fd >= 0 &&
          now - t->rdhup_ms >= RECEIVE_HANGUP_GRACE_MS) {
        int unread = 0;
        if (ioctl(t->fd, FIONREAD, &unread) == 0 && unread == 0) {
          shutdown(t->fd, SHUT_RDWR);
        }
        t->rdhup_ms = -1;
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
  while (d->gate != NULL) {
    struct gated *g = d->gate;
    d->gate = g->next;
    close(g->fd);
    free(g);
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

/* Frees a daemon whose libmicrohttpd side never started: the listen socket (if opened), the
 * locks and the monitor's wake pipe. */
static void destroy_unstarted(struct adapter_serve_daemon *d) {
  if (d->listen_fd >= 0) {
    close(d->listen_fd);
  }
  pthread_mutex_destroy(&d->lock);
  pthread_mutex_destroy(&d->error_lock);
  pthread_mutex_destroy(&d->track_lock);
  close(d->wake[0]);
  close(d->wake[1]);
  free(d);
}

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
  d->idle_ms = (int64_t) timeout_seconds * 1000;
  d->connection_limit = connection_limit;
  d->per_ip_limit = per_ip_limit;
  d->max_body = max_body_bytes;
  d->hangup = hangup;
  d->log = log;
  d->ctx = ctx;
  d->start_error = error_buf;
  d->start_error_len = error_buf_len;

  /* One internal epoll thread serves every connection (no thread per connection, no
   * FD_SETSIZE ceiling); handlers that take long suspend their connection and resume it when
   * done. ITC is required for MHD_quiesce_daemon and for resuming from other threads. */
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                       MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
  if (address.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  if (memory_limit_bytes == 0) {
    memory_limit_bytes = 32 * 1024;
  }
  /* A header block must leave room in MHD's per-connection pool for its own bookkeeping. */
  d->header_limit = memory_limit_bytes / 2;
  raise_fd_limit(connection_limit);
  /* The listening socket is ours: the monitor accepts, holds each connection until its first
   * header block is complete and sound, then hands it to libmicrohttpd. */
  d->listen_fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  socklen_t address_len = address.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (d->listen_fd < 0 || setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (address.ss_family == AF_INET6 && setsockopt(d->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
      bind(d->listen_fd, (struct sockaddr *) &address, address_len) != 0 || listen(d->listen_fd, SOMAXCONN) != 0) {
    char message[256];
    snprintf(message, sizeof message, "cannot listen: %s", strerror(errno));
    set_error(error_buf, error_buf_len, message);
    destroy_unstarted(d);
    return NULL;
  }
  d->mhd = MHD_start_daemon(flags, port, NULL, NULL, handler, ctx,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
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
    destroy_unstarted(d);
    return NULL;
  }
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(d->listen_fd, (struct sockaddr *) &bound, &bound_len);
  d->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                              : ((struct sockaddr_in *) &bound)->sin_port);
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
    pthread_mutex_lock(&daemon->track_lock);
    int fd = daemon->listen_fd;
    daemon->listen_fd = -1;
    pthread_mutex_unlock(&daemon->track_lock);
    if (fd >= 0) {
      close(fd);
    }
    wake_monitor(daemon);
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
  t->rdhup_ms = 0;
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
  t->rdhup_ms = 0;
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
  size_t n = daemon->tracked_count + daemon->gated_count;
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

_Static_assert(ADAPTER_SERVE_STREAM_END == (long) MHD_CONTENT_READER_END_OF_STREAM, "stream end marker");
_Static_assert(ADAPTER_SERVE_STREAM_ERROR == (long) MHD_CONTENT_READER_END_WITH_ERROR, "stream error marker");

/* The Swift reader ignores pos: a stream is read strictly in order, once. */
struct stream_thunk {
  adapter_serve_stream_reader reader;
  adapter_serve_stream_free free_cls;
  void *cls;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void) pos;
  struct stream_thunk *thunk = cls;
  return (ssize_t) thunk->reader(thunk->cls, buf, max);
}

static void stream_free(void *cls) {
  struct stream_thunk *thunk = cls;
  thunk->free_cls(thunk->cls);
  free(thunk);
}

struct MHD_Response *adapter_serve_stream_response_create(adapter_serve_stream_reader reader, void *cls,
                                                          adapter_serve_stream_free free_cls) {
  struct stream_thunk *thunk = malloc(sizeof *thunk);
  if (thunk == NULL) {
    return NULL;
  }
  thunk->reader = reader;
  thunk->free_cls = free_cls;
  thunk->cls = cls;
  /* 4 KiB blocks: an SSE event is far smaller, and each read hands over what is buffered. */
  struct MHD_Response *response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, thunk, stream_free);
  if (response == NULL) {
    free(thunk);
  }
  return response;
}
