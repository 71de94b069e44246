/* signature_pb.h — a jn_signature as junction.v1.Signature, for the answers that describe a model (ListModels and
 * GetModel, Engine.Describe, Admin.RegisterEngine), and back (a native remote engine's Describe, `junction eval`'s
 * GetModel).
 *
 * Ownership: the message borrows every string and shape from the signature (which must outlive it); the arrays of
 * ports are the holder's, freed by jn_signature_pb_free. Thread-safety: one holder per thread.
 */
#ifndef JN_PB_SIGNATURE_PB_H
#define JN_PB_SIGNATURE_PB_H

#include "junction/v1/contract.pb-c.h"
#include "signature.h"

typedef struct jn_signature_pb {
    Junction__V1__Signature msg;
    Junction__V1__Port *ports;
    Junction__V1__Port **inputs, **outputs;
} jn_signature_pb;

/* 0, or JN_ENOMEM (then free it all the same). */
int jn_signature_pb_fill(jn_signature_pb *out, const jn_signature *sig);
void jn_signature_pb_free(jn_signature_pb *out);

/* Appends the ports of `pb` to a caller-initialized sig (kind 0 = TENSOR; labels kept). JN_EINVAL naming the
 * direction and port ("input 'x': ...") for a port junction cannot hold (rank above JN_MAX_DIMS, bad name or
 * type); sig may then hold the ports before it. */
int jn_signature_from_pb(jn_signature *sig, const Junction__V1__Signature *pb, jn_err *err);

#endif
