/* cli.c — what the sub-commands share. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int jn_cli_usage_error(const char *command, void (*usage)(FILE *to), const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", command);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    usage(stderr);
    return JN_CLI_EXIT_USAGE;
}
