/* state.c — the state directory (see state.h): load with fallback, atomic durable commits. */
#include "file_read.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAGIC "junction-state 1"
#define STATE_MAX_BYTES ((size_t)256 << 20)

typedef struct record {
    char *kind;
    char *name;
    json_t *value;
    char *value_text; /* compact dump of value */
} record;

struct jn_state {
    pthread_mutex_t mu;
    char *dir;
    char *path, *prev_path, *tmp_path;
    record *recs;
    size_t n, cap;
    char report[1024];
};

/* ---- checksum: CRC-32 (IEEE 802.3, reflected), as zlib and gzip compute it ---- */

static uint32_t crc32_of(const char *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned char)data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- records in memory ---- */

static void record_free(record *r)
{
    free(r->kind);
    free(r->name);
    json_decref(r->value);
    free(r->value_text);
}

static void records_free(record *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        record_free(&recs[i]);
    free(recs);
}

static int record_make(record *r, const char *kind, const char *name, json_t *value)
{
    r->kind = strdup(kind);
    r->name = strdup(name);
    r->value = value; /* takes the reference */
    r->value_text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!r->kind || !r->name || !r->value_text) {
        record_free(r);
        return JN_ENOMEM;
    }
    return 0;
}

/* ---- the file format ---- */

static char *body_text(const record *recs, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:O}", "kind", recs[i].kind, "name", recs[i].name, "value", recs[i].value);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_t *root = arr ? json_pack("{s:o}", "records", arr) : NULL;
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

/* Parses a whole file's bytes into records; a message in why (the caller names the file) on failure. */
static int parse_file(const char *data, size_t len, record **out, size_t *out_n, char *why, size_t why_n)
{
    *out = NULL;
    *out_n = 0;
    const char *nl = memchr(data, '\n', len);
    size_t body_len = 0;
    unsigned crc = 0;
    char header[96];
    if (!nl || (size_t)(nl - data) >= sizeof header) {
        snprintf(why, why_n, "no header line");
        return JN_EINVAL;
    }
    memcpy(header, data, (size_t)(nl - data));
    header[nl - data] = '\0';
    char magic_tail[8];
    if (sscanf(header, "junction-state %7s %zu %x", magic_tail, &body_len, &crc) != 3 ||
        strcmp(magic_tail, "1") != 0) {
        snprintf(why, why_n, "the header is not '%s <bytes> <crc32>'", STATE_MAGIC);
        return JN_EINVAL;
    }
    const char *body = nl + 1;
    size_t have = len - (size_t)(body - data);
    if (have != body_len) {
        snprintf(why, why_n, "torn: the header says %zu bytes, the file has %zu", body_len, have);
        return JN_EINVAL;
    }
    if (crc32_of(body, body_len) != crc) {
        snprintf(why, why_n, "corrupt: the checksum does not match");
        return JN_EINVAL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, body_len, 0, &jerr);
    json_t *arr = root ? json_object_get(root, "records") : NULL;
    if (!json_is_array(arr)) {
        snprintf(why, why_n, "the body is not {\"records\": [...]}%s%s", root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return JN_EINVAL;
    }
    size_t n = json_array_size(arr);
    record *recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs) {
        json_decref(root);
        return JN_ENOMEM;
    }
    int rc = 0;
    size_t made = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *o = json_array_get(arr, i);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *name = json_string_value(json_object_get(o, "name"));
        json_t *value = json_object_get(o, "value");
        if (!kind || !name || !value) {
            snprintf(why, why_n, "record %zu lacks kind, name or value", i + 1);
            rc = JN_EINVAL;
        } else if ((rc = record_make(&recs[made], kind, name, json_incref(value))) == 0) {
            made++;
        }
    }
    json_decref(root);
    if (rc) {
        records_free(recs, made);
        return rc;
    }
    *out = recs;
    *out_n = made;
    return 0;
}

/* Reads a whole file: 0, JN_ENOTFOUND when absent, or JN_EIO / JN_ENOMEM with why. */
static int read_file(const char *path, char **data, size_t *len, char *why, size_t why_n)
{
    void *buf;
    int e = jn_read_file(path, STATE_MAX_BYTES, &buf, len);
    *data = buf;
    if (!e)
        return 0;
    if (e == ENOENT)
        return JN_ENOTFOUND;
    if (e == ENOMEM)
        return JN_ENOMEM;
    if (e == EFBIG)
        snprintf(why, why_n, "larger than %zu MiB", STATE_MAX_BYTES >> 20);
    else
        snprintf(why, why_n, "%s", e == EIO ? "read error" : strerror(e));
    return JN_EIO;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes recs as the new state.json (the old one becoming state.json.prev), durably. */
static int write_state(jn_state *st, const record *recs, size_t n, jn_err *err)
{
    char *body = body_text(recs, n);
    if (!body)
        return jn_err_set(err, JN_ENOMEM, "out of memory writing the state");
    size_t len = strlen(body);
    char header[96];
    int hl = snprintf(header, sizeof header, "%s %zu %08" PRIx32 "\n", STATE_MAGIC, len, crc32_of(body, len));
    int fd = open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;
    const char *failed = NULL;
    if (fd < 0) {
        failed = "create";
    } else {
        const char *parts[2] = {header, body};
        size_t sizes[2] = {(size_t)hl, len};
        for (int p = 0; p < 2 && !failed; p++) {
            size_t done = 0;
            while (done < sizes[p]) {
                ssize_t w = write(fd, parts[p] + done, sizes[p] - done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    failed = "write";
                    break;
                }
                done += (size_t)w;
            }
        }
        if (!failed && fsync(fd) != 0)
            failed = "fsync";
        if (close(fd) != 0 && !failed)
            failed = "close";
    }
    free(body);
    if (!failed && rename(st->path, st->prev_path) != 0 && errno != ENOENT)
        failed = "rename to .prev";
    if (!failed && rename(st->tmp_path, st->path) != 0)
        failed = "rename into place";
    if (!failed && fsync_dir(st->dir) != 0)
        failed = "fsync of the directory";
    if (failed) {
        rc = jn_err_set(err, JN_EIO, "state directory '%s': %s failed: %s", st->dir, failed, strerror(errno));
        unlink(st->tmp_path);
    }
    return rc;
}

/* ---- open / close ---- */

static char *join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

void jn_state_close(jn_state *st)
{
    if (!st)
        return;
    records_free(st->recs, st->n);
    free(st->dir);
    free(st->path);
    free(st->prev_path);
    free(st->tmp_path);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* Loads one candidate file: 0 (records set), JN_ENOTFOUND, or another code with why. */
static int load_candidate(const char *path, record **recs, size_t *n, char *why, size_t why_n)
{
    char *data;
    size_t len;
    int rc = read_file(path, &data, &len, why, why_n);
    if (rc)
        return rc;
    rc = parse_file(data, len, recs, n, why, why_n);
    free(data);
    return rc;
}

jn_state *jn_state_open(const char *dir, jn_err *err)
{
    if (!dir || !*dir) {
        jn_err_set(err, JN_EINVAL, "the state directory is empty");
        return NULL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        jn_err_set(err, JN_EIO, "state directory '%s': cannot create it: %s", dir, strerror(errno));
        return NULL;
    }
    jn_state *st = calloc(1, sizeof *st);
    if (!st) {
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    st->dir = strdup(dir);
    st->path = join(dir, "state.json");
    st->prev_path = join(dir, "state.json.prev");
    st->tmp_path = join(dir, "state.json.tmp");
    if (!st->dir || !st->path || !st->prev_path || !st->tmp_path) {
        jn_state_close(st);
        jn_err_set(err, JN_ENOMEM, "out of memory");
        return NULL;
    }
    if (access(dir, W_OK) != 0) {
        jn_err_set(err, JN_EIO, "state directory '%s': not writable: %s", dir, strerror(errno));
        jn_state_close(st);
        return NULL;
    }
    unlink(st->tmp_path); /* a change that never completed */
    char why[512] = "", why_prev[512] = "";
    int rc = load_candidate(st->path, &st->recs, &st->n, why, sizeof why);
    if (rc == 0)
        return st;
    int rc_prev = load_candidate(st->prev_path, &st->recs, &st->n, why_prev, sizeof why_prev);
    if (rc == JN_ENOTFOUND && rc_prev == JN_ENOTFOUND)
        return st; /* a new state directory */
    if (rc_prev == 0) {
        if (rc != JN_ENOTFOUND) /* absent state.json = a crash between the two renames: nothing to report */
            snprintf(st->report, sizeof st->report, "'%s' is unusable (%s); using the previous state '%s' (%zu records)",
                     st->path, why, st->prev_path, st->n);
        return st;
    }
    jn_err_set(err, JN_EIO, "state directory '%s': no usable state: %s: %s; %s: %s", dir, st->path,
               rc == JN_ENOTFOUND ? "absent" : why, st->prev_path, rc_prev == JN_ENOTFOUND ? "absent" : why_prev);
    jn_state_close(st);
    return NULL;
}

const char *jn_state_report(const jn_state *st)
{
    return st->report;
}

size_t jn_state_count(const jn_state *st)
{
    return st->n;
}

void jn_state_record(const jn_state *st, size_t i, const char **kind, const char **name, const char **value_json)
{
    *kind = st->recs[i].kind;
    *name = st->recs[i].name;
    *value_json = st->recs[i].value_text;
}

/* ---- commit ---- */

/* A copy of the current set with (kind, name) set to value (NULL: removed). The copy shares nothing. */
static int changed_set(const jn_state *st, const char *kind, const char *name, json_t *value, record **out,
                       size_t *out_n)
{
    record *recs = calloc(st->n + 1, sizeof *recs);
    if (!recs)
        return JN_ENOMEM;
    size_t n = 0;
    bool placed = false;
    int rc = 0;
    for (size_t i = 0; i < st->n && !rc; i++) {
        const record *r = &st->recs[i];
        bool same = strcmp(r->kind, kind) == 0 && strcmp(r->name, name) == 0;
        if (same && !value) {
            placed = true; /* removed */
            continue;
        }
        json_t *v = same ? json_incref(value) : json_incref(r->value);
        if ((rc = record_make(&recs[n], r->kind, r->name, v)) == 0)
            n++;
        placed |= same;
    }
    if (!rc && !placed && value && (rc = record_make(&recs[n], kind, name, json_incref(value))) == 0)
        n++;
    if (rc) {
        records_free(recs, n);
        return rc;
    }
    *out = recs;
    *out_n = n;
    return 0;
}

int jn_state_commit(jn_state *st, const char *kind, const char *name, const char *value_json, jn_state_apply_fn apply,
                    void *arg, jn_err *err)
{
    json_t *value = NULL;
    if (value_json) {
        json_error_t jerr;
        value = json_loads(value_json, JSON_DECODE_ANY, &jerr);
        if (!value)
            return jn_err_set(err, JN_EINVAL, "state record %s '%s': the value is not JSON: %s", kind, name,
                              jerr.text);
    }
    pthread_mutex_lock(&st->mu);
    record *next = NULL;
    size_t next_n = 0;
    int rc = changed_set(st, kind, name, value, &next, &next_n);
    if (rc)
        jn_err_set(err, rc, "out of memory");
    if (!rc)
        rc = write_state(st, next, next_n, err);
    if (!rc && apply && (rc = apply(arg, err)) != 0) {
        jn_err undo;
        jn_err_clear(&undo);
        if (write_state(st, st->recs, st->n, &undo)) /* the change is refused: the previous set goes back */
            fprintf(stderr, "junction: state: could not undo a refused change: %s\n", undo.msg);
        records_free(next, next_n);
        next = NULL;
    }
    if (!rc) {
        records_free(st->recs, st->n);
        st->recs = next;
        st->n = next_n;
    } else if (next) {
        records_free(next, next_n);
    }
    /* Under mu like every other reference change of the records' values: jansson's json_incref reads the count
     * without an atomic, so a decrement on another thread is a data race (ThreadSanitizer, e2e_state). */
    json_decref(value);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

long jn_state_check_bytes(const char *data, size_t len, char *why, size_t why_n)
{
    record *recs;
    size_t n;
    int rc = parse_file(data, len, &recs, &n, why, why_n);
    if (rc)
        return rc;
    records_free(recs, n);
    return (long)n;
}
