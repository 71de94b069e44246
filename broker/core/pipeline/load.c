/* pipeline/load.c — `junction serve --pipelines DIR`: every DIR/\*.json, in file-name order, parsed, compiled and
 * registered; all or nothing.
 *
 * Rollback restores what the call changed: a pipeline it added is unregistered, one it replaced is put back (in
 * reverse order, so a name defined by two files ends as it was before the call). Meant for start-up and other
 * moments when nobody else changes the same pipelines concurrently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dir_names.h"
#include "pipeline.h"

#define PIPELINE_FILE_MAX_BYTES ((size_t)16 << 20)

static bool is_json_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* The sorted names of the DIR/\*.json files (hidden ones skipped). */
static int list_json_files(const char *dir, char ***out, size_t *count, jn_err *err)
{
    return jn_dir_names(dir, is_json_name, out, count, err);
}

int jn_pipeline_read_file(const char *path, char **text, size_t *len, jn_err *err)
{
    *text = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return jn_err_set(err, JN_EIO, "cannot open: %s", strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : jn_err_set(err, JN_ENOMEM, "out of memory");
    while (!rc) {
        if (n + 1 == cap) {
            if (cap > PIPELINE_FILE_MAX_BYTES) {
                rc = jn_err_set(err, JN_EINVAL, "larger than %zu MiB", PIPELINE_FILE_MAX_BYTES >> 20);
                break;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                rc = jn_err_set(err, JN_ENOMEM, "out of memory");
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = jn_err_set(err, JN_EIO, "cannot read: %s", strerror(errno));
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* What one registration changed, so that it can be undone. */
typedef struct change {
    char *name;
    jn_engine *previous; /* the pipeline it replaced (a reference), or NULL */
} change;

static void undo(jn_registry *reg, change *changes, size_t n)
{
    jn_err ignored;
    for (size_t i = n; i-- > 0;) {
        if (changes[i].previous) {
            jn_pipeline_register(reg, changes[i].previous, NULL, &ignored);
            changes[i].previous = NULL;
        } else {
            jn_pipeline_unregister(reg, changes[i].name, &ignored);
        }
    }
}

static void free_changes(change *changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(changes[i].name);
        jn_engine_unref(changes[i].previous);
    }
    free(changes);
}

/* Parses, compiles and registers one file, noting the change in *ch. */
static int load_one(const char *path, jn_registry *reg, change *ch, jn_err *err)
{
    char *text;
    size_t len;
    int rc = jn_pipeline_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    jn_pipeline_spec spec;
    rc = jn_pipeline_spec_from_json(text, len, &spec, err);
    free(text);
    if (rc)
        return rc;
    jn_engine *p = jn_pipeline_compile(&spec, reg, err);
    jn_pipeline_spec_free(&spec);
    if (!p)
        return err->code ? err->code : jn_err_set(err, JN_EINTERNAL, "the pipeline did not compile");
    if (!(ch->name = strdup(p->name))) {
        jn_engine_unref(p);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    /* Hold on to a pipeline this one replaces; an engine that is not a pipeline makes the register fail. */
    jn_err ignored;
    jn_engine *old = jn_registry_get(reg, ch->name, NULL, &ignored);
    if (old && jn_engine_is_pipeline(old))
        ch->previous = old;
    else
        jn_engine_unref(old);
    rc = jn_pipeline_register(reg, p, NULL, err);
    if (rc) {
        jn_engine_unref(ch->previous);
        ch->previous = NULL;
        free(ch->name);
        ch->name = NULL;
    }
    return rc;
}

int jn_pipelines_load_dir(const char *dir, jn_registry *reg, jn_err *err)
{
    char **names;
    size_t n;
    int rc = list_json_files(dir, &names, &n, err);
    if (rc)
        return rc;
    change *changes = calloc(n ? n : 1, sizeof *changes);
    if (!changes) {
        jn_dir_names_free(names, n);
        return jn_err_set(err, JN_ENOMEM, "out of memory");
    }
    size_t done = 0;
    size_t dlen = strlen(dir);
    const char *sep = dlen && dir[dlen - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < n && !rc; i++) {
        char *path = malloc(dlen + strlen(sep) + strlen(names[i]) + 1);
        if (!path) {
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
        sprintf(path, "%s%s%s", dir, sep, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = jn_err_set(err, JN_EIO, "%s: %s", path, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            rc = load_one(path, reg, &changes[done], err);
            if (rc)
                jn_err_prefix(err, "%s", path);
            else
                done++;
        }
        free(path);
    }
    if (rc)
        undo(reg, changes, done);
    free_changes(changes, done);
    jn_dir_names_free(names, n);
    return rc;
}
