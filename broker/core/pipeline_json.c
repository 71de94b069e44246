/* pipeline_json.c — pipeline specs from and to JSON (jansson). Being written. */
