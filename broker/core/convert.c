/* convert.c — being written. */
