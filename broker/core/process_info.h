/* process_info.h — this process's resident memory, threads, start time and uptime, read from /proc (Linux), for
 * /metrics and the console. A figure that cannot be read is -1 (start_time: 0).
 *
 * Ownership: plain values. Thread-safety: any thread, any time (the start time is read once).
 */
#ifndef JN_PROCESS_INFO_H
#define JN_PROCESS_INFO_H

#include <stdbool.h>
#include <stdint.h>

typedef struct jn_process_info {
    int64_t rss_bytes;
    int64_t threads;
    double start_time; /* seconds since the epoch */
    double uptime_s;
} jn_process_info;

void jn_process_info_read(jn_process_info *p);

#endif
