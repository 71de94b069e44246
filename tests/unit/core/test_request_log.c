/* test_request_log.c — the request log (core/request_log.h): the line's envelope and fields read back with jansson,
 * payloads with masking and a redacted port, the per-entry cap (the cut line stays valid JSON), sampling, and
 * rotation under 8 concurrent writers: every entry exactly once across FILE and FILE.1 .. FILE.K, no drops. */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request_log.h"
#include "test.h"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/jn-reqlog-XXXXXX");
    JN_REQUIRE(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Every line of a file, parsed (each must be one JSON object). Appends to *lines. */
static size_t read_lines(const char *path, json_t *lines)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) > 0) {
        JN_CHECK(buf[len - 1] == '\n');
        json_error_t je;
        json_t *o = json_loadb(buf, (size_t)len, 0, &je);
        if (!o)
            fprintf(stderr, "not JSON (%s): %.200s\n", je.text, buf);
        JN_REQUIRE(o && json_is_object(o));
        json_array_append_new(lines, o);
        n++;
    }
    free(buf);
    fclose(f);
    return n;
}

static jn_tensor *text_tensor(const char *name, const char *text)
{
    size_t len = strlen(text);
    int64_t shape[1] = {1};
    return jn_tensor_from_strings(name, 1, shape, &text, &len, 1, NULL);
}

static jn_tensor *fp32_tensor(const char *name, int64_t n)
{
    int64_t shape[2] = {1, n};
    jn_tensor *t = jn_tensor_create(name, JN_DTYPE_FP32, 2, shape, NULL);
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = (float)i + 0.5f;
    return t;
}

static void test_line_fields(void)
{
    make_dir();
    char path[300];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    o.path = path;
    o.source = "junction/test-host";
    jn_err err;
    jn_err_clear(&err);
    jn_request_log *l = jn_request_log_open(&o, &err);
    JN_REQUIRE(l);
    jn_request_log_entry e = {.model = "identity", .version = "1", .door = "grpc-v1", .request_id = "r-1",
                              .latency_ns = 1234567, .request_bytes = 61, .response_bytes = 44};
    jn_request_log_record(l, &e);
    jn_request_log_entry f = {.model = "nope", .door = "rest-v2", .rc = JN_ENOTFOUND,
                              .error = "model 'nope' is not registered",
                              .trace_id = "0af7651916cd43dd8448eb211c80319c"};
    jn_request_log_record(l, &f);
    jn_request_log_flush(l);
    jn_request_log_counts c;
    jn_request_log_get_counts(l, &c);
    JN_CHECK_INT_EQ(c.lines, 2);
    JN_CHECK_INT_EQ(c.dropped, 0);
    jn_request_log_close(l);

    json_t *lines = json_array();
    JN_REQUIRE(read_lines(path, lines) == 2);
    json_t *a = json_array_get(lines, 0), *d = json_object_get(a, "data");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(a, "specversion")), "1.0");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(a, "type")), "junction.request");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(a, "source")), "junction/test-host");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(a, "datacontenttype")), "application/json");
    const char *time = json_string_value(json_object_get(a, "time"));
    JN_REQUIRE(time);
    /* RFC 3339, UTC, milliseconds: 2026-12-07T05:13:43.123Z */
    JN_CHECK_INT_EQ(strlen(time), 24);
    JN_CHECK(time[4] == '-' && time[10] == 'T' && time[19] == '.' && time[23] == 'Z');
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "model")), "identity");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "version")), "1");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "door")), "grpc-v1");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "request_id")), "r-1");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(d, "status"), "code")), "OK");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(d, "status"), "number")), 0);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(d, "latency_us")), 1234);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(d, "request_bytes")), 61);
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(d, "response_bytes")), 44);
    JN_CHECK(json_object_get(d, "traceid") == NULL);
    JN_CHECK(json_object_get(d, "inputs") == NULL); /* no payloads asked for */
    JN_CHECK(json_object_get(d, "error") == NULL);
    json_t *b = json_array_get(lines, 1), *bd = json_object_get(b, "data");
    JN_CHECK(strcmp(json_string_value(json_object_get(a, "id")), json_string_value(json_object_get(b, "id"))) != 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(bd, "status"), "code")), "NOT_FOUND");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(bd, "status"), "number")), 5);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(bd, "error")), "model 'nope' is not registered");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(bd, "traceid")), "0af7651916cd43dd8448eb211c80319c");
    JN_CHECK(json_object_get(bd, "request_id") == NULL);
    json_decref(lines);
    remove_dir();
}

static void test_payloads_masked(void)
{
    const char *rules_text = "{\"ports\": [\"password\"], \"patterns\": [\"email\", \"phone\", \"card\"]}";
    jn_err err;
    jn_err_clear(&err);
    jn_redact *r = jn_redact_parse(rules_text, strlen(rules_text), "rules", &err);
    JN_REQUIRE(r);
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    o.path = "/dev/null";
    o.payloads = true;
    o.redact = r;
    jn_request_log *l = jn_request_log_open(&o, &err);
    JN_REQUIRE(l);
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor_list_push(&in,
                        text_tensor("text", "mail bob@example.com, call +1 555-123-4567, card 4111 1111 1111 1111"));
    jn_tensor_list_push(&in, text_tensor("password", "hunter2-s3cret"));
    jn_tensor_list_push(&out, fp32_tensor("scores", 3));
    uint8_t bin[4] = {0xff, 0x00, 0xfe, 0x01};
    const char *binp = (const char *)bin;
    size_t binlen = 4;
    int64_t one[1] = {1};
    jn_tensor_list_push(&out, jn_tensor_from_strings("blob", 1, one, &binp, &binlen, 1, NULL));
    jn_request_log_entry e = {.model = "m", .door = "grpc-v2", .request_id = "id bob@example.com",
                              .inputs = &in, .outputs = &out};
    size_t len;
    char *line = jn_request_log_format(l, &e, &len);
    JN_REQUIRE(line);
    JN_CHECK(strstr(line, "bob@example.com") == NULL);
    JN_CHECK(strstr(line, "555-123-4567") == NULL);
    JN_CHECK(strstr(line, "4111 1111 1111 1111") == NULL);
    JN_CHECK(strstr(line, "hunter2") == NULL);
    json_t *o2 = json_loadb(line, len, 0, NULL);
    JN_REQUIRE(o2);
    json_t *d = json_object_get(o2, "data");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(d, "request_id")), "id [EMAIL]");
    json_t *ins = json_object_get(d, "inputs");
    JN_CHECK_INT_EQ(json_array_size(ins), 2);
    JN_CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(json_array_get(ins, 0), "values"), 0)),
                    "mail [EMAIL], call [PHONE], card [CARD]");
    JN_CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(ins, 1), "values")), "[REDACTED]");
    json_t *outs = json_object_get(d, "outputs");
    json_t *scores = json_array_get(outs, 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(scores, "datatype")), "FP32");
    JN_CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(scores, "shape"), 1)), 3);
    JN_CHECK_DBL_EQ(json_number_value(json_array_get(json_object_get(scores, "values"), 2)), 2.5);
    json_t *blob = json_array_get(json_object_get(json_array_get(outs, 1), "values"), 0);
    JN_CHECK_STR_EQ(json_string_value(json_object_get(blob, "base64")), "/wD+AQ==");
    JN_CHECK_INT_EQ(json_integer_value(json_object_get(blob, "bytes")), 4);
    JN_CHECK(json_object_get(d, "truncated") == NULL);
    json_decref(o2);
    free(line);

    /* The cap: a big tensor is cut, the line stays valid JSON within the cap and says so. */
    jn_request_log_close(l);
    o.max_entry = 1024;
    l = jn_request_log_open(&o, &err);
    JN_REQUIRE(l);
    jn_tensor_list_clear(&out);
    jn_tensor_list_push(&out, fp32_tensor("big", 10000));
    char longtext[5000];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    jn_tensor_list_push(&in, text_tensor("long", longtext));
    line = jn_request_log_format(l, &e, &len);
    JN_REQUIRE(line);
    JN_CHECK(len <= 1024);
    o2 = json_loadb(line, len, 0, NULL);
    JN_CHECK(o2 != NULL);
    JN_CHECK(json_is_true(json_object_get(json_object_get(o2, "data"), "truncated")));
    json_decref(o2);
    free(line);

    /* Long names, ids and messages are cut too: the line still fits. */
    char huge[6000];
    memset(huge, 'm', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    jn_request_log_entry big = {.model = huge, .version = huge, .door = "rest-v2", .request_id = huge,
                                .rc = JN_EINVAL, .error = huge, .inputs = &in, .outputs = &out,
                                .trace_id = "0af7651916cd43dd8448eb211c80319c", .latency_ns = INT64_MAX,
                                .request_bytes = UINT64_MAX, .response_bytes = UINT64_MAX};
    line = jn_request_log_format(l, &big, &len);
    JN_REQUIRE(line);
    JN_CHECK_INT_LT(len, 1025);
    o2 = json_loadb(line, len, 0, NULL);
    if (!o2)
        fprintf(stderr, "not JSON: %s\n", line);
    JN_CHECK(o2 != NULL);
    JN_CHECK(json_is_true(json_object_get(json_object_get(o2, "data"), "truncated")));
    json_decref(o2);
    free(line);
    jn_request_log_close(l);
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
    jn_redact_free(r);
}

static void test_sampling(void)
{
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    o.path = "/dev/null";
    o.sample = 0;
    jn_err err;
    jn_request_log *l = jn_request_log_open(&o, &err);
    JN_REQUIRE(l);
    jn_request_log_entry e = {.model = "m", .door = "grpc-v1"};
    for (int i = 0; i < 1000; i++)
        jn_request_log_record(l, &e);
    jn_request_log_flush(l);
    jn_request_log_counts c;
    jn_request_log_get_counts(l, &c);
    JN_CHECK_INT_EQ(c.lines, 0);
    jn_request_log_close(l);
    o.sample = 0.25;
    l = jn_request_log_open(&o, &err);
    JN_REQUIRE(l);
    for (int i = 0; i < 8000; i++)
        jn_request_log_record(l, &e);
    jn_request_log_flush(l);
    jn_request_log_get_counts(l, &c);
    JN_CHECK_INT_GE(c.lines, 1500); /* 2000 expected; 12 standard deviations below would be a broken sampler */
    JN_CHECK_INT_LT(c.lines, 2500);
    jn_request_log_close(l);
}

static void test_bad_options(void)
{
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    jn_err err;
    o.path = "/nonexistent-dir/log.jsonl";
    JN_CHECK(jn_request_log_open(&o, &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "/nonexistent-dir/log.jsonl");
    o.path = "-";
    o.max_bytes = 100;
    JN_CHECK(jn_request_log_open(&o, &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "--request-log-max-bytes");
    o.max_bytes = 0;
    o.sample = 1.5;
    JN_CHECK(jn_request_log_open(&o, &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "--request-log-sample");
}

/* ---- rotation under concurrent writers ---- */

#define THREADS 8
#define PER_THREAD 400

static jn_request_log *shared_log;

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", t, i);
        jn_request_log_entry e = {.model = "identity", .door = "grpc-v1", .request_id = id};
        jn_request_log_record(shared_log, &e);
    }
    return NULL;
}

static void test_rotation_concurrent(void)
{
    make_dir();
    char path[300];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    jn_request_log_options o;
    jn_request_log_options_default(&o);
    o.path = path;
    o.max_bytes = 4096; /* ~12 lines a file */
    o.keep = 1000;
    jn_err err;
    shared_log = jn_request_log_open(&o, &err);
    JN_REQUIRE(shared_log);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    jn_request_log_close(shared_log); /* writes out what is queued */

    json_t *lines = json_array();
    size_t files = 0;
    char p[400];
    for (int k = 0; k <= 1000; k++) {
        if (k)
            snprintf(p, sizeof p, "%s.%d", path, k);
        else
            snprintf(p, sizeof p, "%s", path);
        if (access(p, F_OK) != 0)
            continue;
        files++;
        FILE *f = fopen(p, "r");
        fseek(f, 0, SEEK_END);
        JN_CHECK(ftell(f) <= 4096); /* no file past the limit */
        fclose(f);
        read_lines(p, lines);
    }
    JN_CHECK_INT_GE(files, 100);
    JN_CHECK_INT_EQ(json_array_size(lines), THREADS * PER_THREAD);
    static unsigned char seen[THREADS][PER_THREAD];
    size_t i;
    json_t *o2;
    json_array_foreach(lines, i, o2) {
        int t, n;
        const char *id = json_string_value(json_object_get(json_object_get(o2, "data"), "request_id"));
        JN_REQUIRE(id && sscanf(id, "t%d-%d", &t, &n) == 2 && t >= 0 && t < THREADS && n >= 0 && n < PER_THREAD);
        seen[t][n]++;
    }
    int once = 0;
    for (int t = 0; t < THREADS; t++)
        for (int n = 0; n < PER_THREAD; n++)
            once += seen[t][n] == 1;
    JN_CHECK_INT_EQ(once, THREADS * PER_THREAD);
    json_decref(lines);
    remove_dir();
}

int main(void)
{
    JN_TEST_RUN(test_line_fields);
    JN_TEST_RUN(test_payloads_masked);
    JN_TEST_RUN(test_sampling);
    JN_TEST_RUN(test_bad_options);
    JN_TEST_RUN(test_rotation_concurrent);
    return JN_TEST_EXIT();
}
