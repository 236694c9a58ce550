// Thin C layer for the Hub module: libcurl's easy interface and OpenSSL's streaming digests.
//
// curl_easy_setopt and curl_easy_getinfo are variadic and cannot be called from Swift, so each
// option type gets a fixed-signature wrapper here. Redirects are NOT followed by curl: the Hub
// module follows them itself so that it alone decides where the Authorization header goes.
#ifndef ADAPTER_SERVE_CHUB_H
#define ADAPTER_SERVE_CHUB_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Receives body bytes (or one header line); returns the number consumed (fewer aborts).
typedef size_t (*chub_data_callback)(char *data, size_t size, size_t count, void *ctx);

/// One GET: what to send and where the bytes go.
typedef struct chub_request {
    const char *url;
    /// Extra request headers, NULL-terminated, "Name: value" each.
    const char *const *headers;
    /// "N-" for a "Range: bytes=N-" resume request, or NULL. Set as CURLOPT_RANGE, not
    /// CURLOPT_RESUME_FROM, so that a server ignoring the range (200) is the caller's to handle.
    const char *range;
    /// Seconds to wait for the TCP (+TLS) connection; the transfer itself has no total limit.
    long connect_timeout_seconds;
    /// Abort when fewer than 1 byte/s arrives for this many seconds (a stalled connection).
    long stall_timeout_seconds;
    const char *user_agent;
    chub_data_callback on_header;
    chub_data_callback on_body;
    void *ctx;
} chub_request;

/// What came back. `error` is curl's message when `code` != CURLE_OK.
typedef struct chub_result {
    CURLcode code;
    long status;
    char error[CURL_ERROR_SIZE];
} chub_result;

/// Must run once before any other call (curl_global_init is not thread-safe).
CURLcode chub_global_init(void);

/// Performs one request without following redirects; body bytes of every response status go
/// to on_body (the caller decides from the header callback whether to keep them).
void chub_perform(const chub_request *request, chub_result *result);

#ifdef __cplusplus
}
#endif

#endif
