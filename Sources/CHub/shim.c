#include "CHub.h"
#include <string.h>

CURLcode chub_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

void chub_perform(const chub_request *request, chub_result *result) {
    memset(result, 0, sizeof(*result));
    CURL *curl = curl_easy_init();
    if (!curl) {
        result->code = CURLE_FAILED_INIT;
        strncpy(result->error, "curl_easy_init failed", CURL_ERROR_SIZE - 1);
        return;
    }
    struct curl_slist *headers = NULL;
    for (const char *const *h = request->headers; h && *h; h++) {
        struct curl_slist *next = curl_slist_append(headers, *h);
        if (!next) {
            curl_slist_free_all(headers);
            curl_easy_cleanup(curl);
            result->code = CURLE_OUT_OF_MEMORY;
            strncpy(result->error, "out of memory building headers", CURL_ERROR_SIZE - 1);
            return;
        }
        headers = next;
    }
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, result->error);
    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request->connect_timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request->stall_timeout_seconds);
    if (request->user_agent) curl_easy_setopt(curl, CURLOPT_USERAGENT, request->user_agent);
    if (headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (request->range) curl_easy_setopt(curl, CURLOPT_RANGE, request->range);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, request->on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, request->ctx);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, request->on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, request->ctx);
    result->code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->status);
    if (result->code != CURLE_OK && result->error[0] == 0) {
        strncpy(result->error, curl_easy_strerror(result->code), CURL_ERROR_SIZE - 1);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}
