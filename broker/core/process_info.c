/* process_info.c — the process's own figures from /proc (process_info.h). */
#include "process_info.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Fields of /proc/self/stat after the command name (which may hold spaces and parentheses): [0] is field 3
 * (state), so field N is [N - 3]. */
static int self_stat_fields(unsigned long long *fields, int want)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    p += 3; /* past ") " and the one-letter state, onto the space before field 4 */
    fields[0] = 0;
    int got = 1;
    for (; got < want && *p == ' '; got++) {
        char *end;
        fields[got] = strtoull(p + 1, &end, 10);
        if (end == p + 1)
            return -1;
        p = end;
    }
    return got == want ? 0 : -1;
}

enum { STAT_NUM_THREADS = 20 - 3, STAT_STARTTIME = 22 - 3, STAT_WANT = STAT_STARTTIME + 1 };

/* Seconds since the epoch when the process started (boot time + start ticks): constant, so computed once. */
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static double start_time; /* 0: unknown */

static void read_start_time(void)
{
    unsigned long long fields[STAT_WANT];
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0 || self_stat_fields(fields, STAT_WANT))
        return;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    unsigned long long btime = 0;
    while (getline(&line, &cap, f) > 0)
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    free(line);
    fclose(f);
    if (btime)
        start_time = (double)btime + (double)fields[STAT_STARTTIME] / (double)hz;
}

void jn_process_info_read(jn_process_info *p)
{
    p->rss_bytes = p->threads = -1;
    p->start_time = 0;
    p->uptime_s = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size_pages, rss_pages;
    long page = sysconf(_SC_PAGESIZE);
    if (f && page > 0 && fscanf(f, "%llu %llu", &size_pages, &rss_pages) == 2)
        p->rss_bytes = (int64_t)(rss_pages * (unsigned long long)page);
    if (f)
        fclose(f);
    unsigned long long fields[STAT_WANT];
    long hz = sysconf(_SC_CLK_TCK);
    bool have_stat = self_stat_fields(fields, STAT_WANT) == 0;
    if (have_stat)
        p->threads = (int64_t)fields[STAT_NUM_THREADS];
    pthread_once(&start_once, read_start_time);
    p->start_time = start_time;
    /* Both on the boot-time clock the kernel counts start ticks on: immune to wall-clock changes. */
    struct timespec now;
    if (have_stat && hz > 0 && clock_gettime(CLOCK_BOOTTIME, &now) == 0) {
        double up = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - (double)fields[STAT_STARTTIME] / (double)hz;
        p->uptime_s = up > 0 ? up : 0.0;
    }
}
