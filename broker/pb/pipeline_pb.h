/* pipeline_pb.h — junction.v1.PipelineSpec (protobuf-c) <-> jn_pipeline_spec, both directions.
 *
 * Ownership:
 * - jn_pipeline_spec_from_pb fills a caller-provided spec with copies of everything (the message may be freed right
 *   after); on failure the spec is left empty (initialised), so the caller frees it with jn_pipeline_spec_free in
 *   every case.
 * - jn_pipeline_spec_to_pb returns a message whose arrays and sub-messages are malloc'd but whose strings, shapes and
 *   labels are BORROWED from the spec: the spec must outlive the message. Free it with jn_pipeline_spec_pb_free (not
 *   protobuf_c_message_free_unpacked).
 * Thread-safety: pure functions over their arguments.
 */
#ifndef JN_PB_PIPELINE_PB_H
#define JN_PB_PIPELINE_PB_H

#include "junction/v1/pipeline.pb-c.h"
#include "pipeline.h"

/* Converts a received message. `field` names the message in errors ("spec" gives "spec.steps[1].inputs['input'].
 * from is empty"). JN_EINVAL naming the field for a malformed message (unknown enum value, empty name, bad rank),
 * JN_ENOMEM on out of memory. Structure (sources, types, cycles) is the compiler's business, not checked here. */
int jn_pipeline_spec_from_pb(const Junction__V1__PipelineSpec *msg, const char *field, jn_pipeline_spec *spec,
                             jn_err *err);

/* The message form of a spec (see the ownership note above). NULL on out of memory. */
Junction__V1__PipelineSpec *jn_pipeline_spec_to_pb(const jn_pipeline_spec *spec);
void jn_pipeline_spec_pb_free(Junction__V1__PipelineSpec *msg);

#endif
