/* dir_names.c — see dir_names.h. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dir_names.h"
#include "grow.h"

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void jn_dir_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

int jn_dir_names(const char *dir, bool (*keep)(const char *name), char ***out, size_t *count, jn_err *err)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return jn_err_set(err, errno == ENOENT ? JN_ENOTFOUND : JN_EIO, "cannot open directory '%s': %s", dir,
                          strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.' || (keep && !keep(ent->d_name)))
            continue;
        size_t bytes = cap * sizeof *names;
        char **grown = jn_grow(names, &bytes, (n + 1) * sizeof *names, 16 * sizeof *names);
        if (!grown || !(grown[n] = strdup(ent->d_name))) {
            names = grown ? grown : names;
            rc = jn_err_set(err, JN_ENOMEM, "out of memory");
            break;
        }
        names = grown;
        cap = bytes / sizeof *names;
        n++;
    }
    closedir(d);
    if (rc) {
        jn_dir_names_free(names, n);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *out = names;
    *count = n;
    return 0;
}
