/* libcurl_multi.c — the ceiling for any libcurl-based client, for bench/delivery.py:
 * 16 easy handles on one multi handle posting a pre-built body and headers to one URL,
 * each handle re-added as soon as its transfer finishes, for a number of seconds, with
 * nothing else to do (no Python, no body build, no signature).  Prints transfers/s and
 * CPU microseconds per transfer.
 *
 *     cc -O2 -o libcurl_multi libcurl_multi.c -lcurl
 *     ./libcurl_multi URL BODY SECONDS "Header: value" ...   */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define HANDLES 16

static size_t sink(char *p, size_t size, size_t n, void *u) { return size * n; }

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* Runs transfers for `seconds`; returns how many finished with a 2xx. */
static long run(CURLM *m, CURL **easy, double seconds, double *elapsed, double *cpu_used)
{
    long done = 0;
    int running = 0;
    double t0 = now(), c0 = cpu(), end = t0 + seconds;
    for (int i = 0; i < HANDLES; i++) curl_multi_add_handle(m, easy[i]);
    int active = HANDLES;
    while (active) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result == CURLE_OK && status / 100 == 2) done++;
            CURL *e = msg->easy_handle;
            curl_multi_remove_handle(m, e);
            if (now() < end) curl_multi_add_handle(m, e);
            else active--;
        }
        if (active) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    *elapsed = now() - t0;
    *cpu_used = cpu() - c0;
    return done;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL BODY SECONDS [HEADER...]\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    for (int i = 4; i < argc; i++) headers = curl_slist_append(headers, argv[i]);
    CURL *easy[HANDLES];
    for (int i = 0; i < HANDLES; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, argv[2]);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
    }
    double elapsed, used;
    run(m, easy, 0.5, &elapsed, &used);     /* warm up: connections open */
    long done = run(m, easy, atof(argv[3]), &elapsed, &used);
    printf("%.1f %.2f\n", done / elapsed, done ? used / done * 1e6 : 0.0);
    return 0;
}
