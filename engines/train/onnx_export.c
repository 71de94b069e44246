/* onnx_export.c — the ONNX writers of onnx_export.h.
 *
 * A graph is assembled in a `builder`: every protobuf-c struct, array and string it hands out is allocated through
 * it and recorded, so one builder_free releases the whole ModelProto whatever failed half-way. Allocation failures
 * are sticky (b->a.oom) and checked once before packing, which keeps the graph code straight-line.
 */
#include "onnx_export.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "onnx.pb-c.h"

#define PRODUCER_NAME "junction"
#define PRODUCER_VERSION "0.1"

typedef struct builder {
    jn_arena a; /* every struct, array and string of the model */

    Onnx__GraphProto graph;
    Onnx__NodeProto **nodes;
    size_t n_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits;
    Onnx__ValueInfoProto **inputs, **outputs;
    size_t n_inputs, n_outputs;
    Onnx__StringStringEntryProto **meta;
    size_t n_meta;
} builder;

/* ---- allocation ------------------------------------------------------------------------------------------------ */

/* Appends p to the pointer array *arr of *n entries (grown through the builder: old arrays stay owned, harmless). */
static void b_push(builder *b, void ***arr, size_t *n, void *p)
{
    if (!p || b->a.oom)
        return;
    void **grown = jn_arena_alloc(&b->a, (*n + 1) * sizeof *grown);
    if (!grown)
        return;
    if (*n)
        memcpy(grown, *arr, *n * sizeof *grown);
    grown[(*n)++] = p;
    *arr = grown;
}

static void builder_free(builder *b)
{
    jn_arena_free(&b->a);
    memset(b, 0, sizeof *b);
}

/* ---- graph pieces ---------------------------------------------------------------------------------------------- */

/* A node op(inputs...) -> output; attributes are added with attr_int / attr_ints. */
static Onnx__NodeProto *add_node(builder *b, const char *op, const char *name, int n_in, const char *const *in,
                                 const char *out)
{
    Onnx__NodeProto *n = jn_arena_alloc(&b->a, sizeof *n);
    char **ins = jn_arena_alloc(&b->a, (size_t)n_in * sizeof *ins);
    char **outs = jn_arena_alloc(&b->a, sizeof *outs);
    if (!n || !ins || !outs)
        return NULL;
    onnx__node_proto__init(n);
    for (int i = 0; i < n_in; i++)
        ins[i] = jn_arena_strdup(&b->a, in[i]);
    outs[0] = jn_arena_strdup(&b->a, out);
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = jn_arena_strdup(&b->a, op);
    n->name = jn_arena_strdup(&b->a, name);
    b_push(b, (void ***)&b->nodes, &b->n_nodes, n);
    return n;
}

static Onnx__AttributeProto *new_attr(builder *b, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    if (!n)
        return NULL;
    Onnx__AttributeProto *a = jn_arena_alloc(&b->a, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = jn_arena_strdup(&b->a, name);
    a->has_type = 1;
    a->type = type;
    b_push(b, (void ***)&n->attribute, &n->n_attribute, a);
    return a;
}

static void attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a) {
        a->has_i = 1;
        a->i = v;
    }
}

static void attr_ints(builder *b, Onnx__NodeProto *n, const char *name, size_t count, const int64_t *v)
{
    Onnx__AttributeProto *a = new_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *vals = jn_arena_alloc(&b->a, count * sizeof *vals);
    if (a && vals) {
        memcpy(vals, v, count * sizeof *vals);
        a->n_ints = count;
        a->ints = vals;
    }
}

/* An FP32 initializer; returns its data (count floats, zeroed) for the caller to fill, NULL on out of memory. */
static float *add_initializer(builder *b, const char *name, size_t ndim, const int64_t *dims)
{
    Onnx__TensorProto *t = jn_arena_alloc(&b->a, sizeof *t);
    int64_t *d = jn_arena_alloc(&b->a, ndim * sizeof *d);
    size_t count = 1;
    for (size_t i = 0; i < ndim; i++)
        count *= (size_t)dims[i];
    float *data = jn_arena_alloc(&b->a, count * sizeof *data);
    if (!t || !d || !data)
        return NULL;
    onnx__tensor_proto__init(t);
    memcpy(d, dims, ndim * sizeof *d);
    t->n_dims = ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->name = jn_arena_strdup(&b->a, name);
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof *data; /* raw_data is little-endian IEEE 754: the host's layout on x86/ARM */
    t->raw_data.data = (uint8_t *)data;
    b_push(b, (void ***)&b->inits, &b->n_inits, t);
    return data;
}

/* A graph input or output: FP32 tensor; dims < 0 become the symbolic batch dimension "N". */
static void add_value_info(builder *b, int is_input, const char *name, size_t ndim, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = jn_arena_alloc(&b->a, sizeof *v);
    Onnx__TypeProto *type = jn_arena_alloc(&b->a, sizeof *type);
    Onnx__TypeProto__Tensor *tt = jn_arena_alloc(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *shape = jn_arena_alloc(&b->a, sizeof *shape);
    if (!v || !type || !tt || !shape)
        return;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(shape);
    for (size_t i = 0; i < ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = jn_arena_alloc(&b->a, sizeof *d);
        if (!d)
            return;
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = jn_arena_strdup(&b->a, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        b_push(b, (void ***)&shape->dim, &shape->n_dim, d);
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    v->name = jn_arena_strdup(&b->a, name);
    v->type = type;
    if (is_input)
        b_push(b, (void ***)&b->inputs, &b->n_inputs, v);
    else
        b_push(b, (void ***)&b->outputs, &b->n_outputs, v);
}

static void add_meta(builder *b, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = jn_arena_alloc(&b->a, sizeof *e);
    if (!e)
        return;
    onnx__string_string_entry_proto__init(e);
    e->key = jn_arena_strdup(&b->a, key);
    e->value = jn_arena_strdup(&b->a, value);
    b_push(b, (void ***)&b->meta, &b->n_meta, e);
}

/* The labels as a JSON array string owned by the builder. */
static void add_labels_meta(builder *b, const char *const *labels, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(labels[i])) != 0)
            b->a.oom = true;
    char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!s) {
        b->a.oom = true;
        return;
    }
    add_meta(b, "labels", s);
    free(s);
}

/* ---- writing --------------------------------------------------------------------------------------------------- */

static int write_atomically(const uint8_t *buf, size_t len, const char *path, jn_err *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return jn_err_set(err, JN_ENOMEM, "ONNX export: out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return jn_err_set(err, JN_EIO, "ONNX export: cannot write '%s': %s", path, strerror(e));
    }
    size_t off = 0;
    int e = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    if (e)
        return jn_err_set(err, JN_EIO, "ONNX export: cannot write '%s': %s", path, strerror(e));
    return 0;
}

/* Completes the ModelProto around the builder's graph, serializes it and writes it to path. */
static int finish(builder *b, const char *graph_name, const char *doc, const char *path, jn_err *err)
{
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    opset.domain = jn_arena_strdup(&b->a, ""); /* the default ONNX domain */
    opset.has_version = 1;
    opset.version = JN_ONNX_EXPORT_OPSET;

    Onnx__GraphProto *g = &b->graph;
    onnx__graph_proto__init(g);
    g->name = jn_arena_strdup(&b->a, graph_name);
    g->n_node = b->n_nodes;
    g->node = b->nodes;
    g->n_initializer = b->n_inits;
    g->initializer = b->inits;
    g->n_input = b->n_inputs;
    g->input = b->inputs;
    g->n_output = b->n_outputs;
    g->output = b->outputs;

    model.has_ir_version = 1;
    model.ir_version = JN_ONNX_EXPORT_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = jn_arena_strdup(&b->a, PRODUCER_NAME);
    model.producer_version = jn_arena_strdup(&b->a, PRODUCER_VERSION);
    model.has_model_version = 1;
    model.model_version = 1;
    model.doc_string = jn_arena_strdup(&b->a, doc);
    model.graph = g;
    model.n_metadata_props = b->n_meta;
    model.metadata_props = b->meta;
    if (b->a.oom)
        return jn_err_set(err, JN_ENOMEM, "ONNX export: out of memory");

    size_t len = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return jn_err_set(err, JN_ENOMEM, "ONNX export: out of memory (%zu bytes)", len);
    size_t packed = onnx__model_proto__pack(&model, buf);
    int rc = packed == len ? write_atomically(buf, len, path, err)
                           : jn_err_set(err, JN_EINTERNAL, "ONNX export: packed %zu bytes, expected %zu", packed, len);
    free(buf);
    return rc;
}

/* ---- the models ------------------------------------------------------------------------------------------------ */

int jn_onnx_export_cnn(const jn_cnn *m, const char *const *labels, int n_labels, const char *source,
                       const char *preprocessing, const char *path, jn_err *err)
{
    const jn_cnn_arch *a = &m->a;
    if (n_labels != a->classes)
        return jn_err_set(err, JN_EINVAL, "ONNX export: %d labels for a CNN with %d classes", n_labels, a->classes);
    builder b = {0};
    const int64_t k = a->k, pad = a->k / 2, h4 = a->h / 4, w4 = a->w / 4, flat = h4 * w4 * a->c2;

    /* conv weights: junction OHWI [o, ky, kx, i] -> ONNX OIHW [o, i, ky, kx]. */
    const int cin[2] = {a->c, a->c1}, cout[2] = {a->c1, a->c2};
    static const char *const wname[2] = {"conv1.weight", "conv2.weight"}, *const bname[2] = {"conv1.bias",
                                                                                               "conv2.bias"};
    for (int l = 0; l < 2; l++) {
        const int64_t wd[4] = {cout[l], cin[l], k, k}, bd[1] = {cout[l]};
        float *w = add_initializer(&b, wname[l], 4, wd), *bias = add_initializer(&b, bname[l], 1, bd);
        if (!w || !bias)
            break;
        const float *src = m->p[2 * l];
        for (int o = 0; o < cout[l]; o++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++)
                    for (int i = 0; i < cin[l]; i++)
                        w[(((size_t)o * cin[l] + i) * k + y) * k + x] = src[(((size_t)o * k + y) * k + x) * cin[l] + i];
        memcpy(bias, m->p[2 * l + 1], (size_t)cout[l] * sizeof(float));
    }
    /* fc1: junction flattens the pooled map as (y, x, c), Flatten of NCHW as (c, y, x): permute the columns. */
    {
        const int64_t wd[2] = {a->hidden, flat}, bd[1] = {a->hidden};
        float *w = add_initializer(&b, "fc1.weight", 2, wd), *bias = add_initializer(&b, "fc1.bias", 1, bd);
        if (w && bias) {
            const float *src = m->p[4];
            for (int j = 0; j < a->hidden; j++)
                for (int c = 0; c < a->c2; c++)
                    for (int y = 0; y < h4; y++)
                        for (int x = 0; x < w4; x++)
                            w[(size_t)j * flat + ((size_t)c * h4 + y) * w4 + x] =
                                src[(size_t)j * flat + ((size_t)y * w4 + x) * a->c2 + c];
            memcpy(bias, m->p[5], (size_t)a->hidden * sizeof(float));
        }
    }
    {
        const int64_t wd[2] = {a->classes, a->hidden}, bd[1] = {a->classes};
        float *w = add_initializer(&b, "fc2.weight", 2, wd), *bias = add_initializer(&b, "fc2.bias", 1, bd);
        if (w && bias) {
            memcpy(w, m->p[6], m->len[6] * sizeof(float));
            memcpy(bias, m->p[7], (size_t)a->classes * sizeof(float));
        }
    }

    const int64_t kernel[2] = {k, k}, pads[4] = {pad, pad, pad, pad}, ones[2] = {1, 1}, two[2] = {2, 2};
    for (int l = 0; l < 2; l++) {
        char conv[16], relu[16], pool[16], in[16];
        snprintf(conv, sizeof conv, "conv%d", l + 1);
        snprintf(relu, sizeof relu, "relu%d", l + 1);
        snprintf(pool, sizeof pool, "pool%d", l + 1);
        snprintf(in, sizeof in, "%s", l == 0 ? "input" : "pool1");
        const char *conv_in[3] = {in, wname[l], bname[l]}, *relu_in[1] = {conv}, *pool_in[1] = {relu};
        Onnx__NodeProto *n = add_node(&b, "Conv", conv, 3, conv_in, conv);
        attr_ints(&b, n, "kernel_shape", 2, kernel);
        attr_ints(&b, n, "pads", 4, pads);
        attr_ints(&b, n, "strides", 2, ones);
        attr_ints(&b, n, "dilations", 2, ones);
        attr_int(&b, n, "group", 1);
        add_node(&b, "Relu", relu, 1, relu_in, relu);
        n = add_node(&b, "MaxPool", pool, 1, pool_in, pool);
        attr_ints(&b, n, "kernel_shape", 2, two);
        attr_ints(&b, n, "strides", 2, two);
    }
    const char *flat_in[1] = {"pool2"}, *fc1_in[3] = {"flatten", "fc1.weight", "fc1.bias"}, *relu3_in[1] = {"fc1"},
               *fc2_in[3] = {"relu3", "fc2.weight", "fc2.bias"}, *soft_in[1] = {"logits"};
    attr_int(&b, add_node(&b, "Flatten", "flatten", 1, flat_in, "flatten"), "axis", 1);
    attr_int(&b, add_node(&b, "Gemm", "fc1", 3, fc1_in, "fc1"), "transB", 1);
    add_node(&b, "Relu", "relu3", 1, relu3_in, "relu3");
    attr_int(&b, add_node(&b, "Gemm", "fc2", 3, fc2_in, "logits"), "transB", 1);
    attr_int(&b, add_node(&b, "Softmax", "softmax", 1, soft_in, "scores"), "axis", 1);

    const int64_t in_dims[4] = {-1, a->c, a->h, a->w}, out_dims[2] = {-1, a->classes};
    add_value_info(&b, 1, "input", 4, in_dims);
    add_value_info(&b, 0, "scores", 2, out_dims);

    add_labels_meta(&b, labels, (size_t)n_labels);
    add_meta(&b, "source", source);
    add_meta(&b, "preprocessing", preprocessing);
    add_meta(&b, "architecture",
             jn_arena_printf(&b.a, "conv %dx%d %d + ReLU + maxpool 2 -> conv %dx%d %d + ReLU + maxpool 2 -> dense %d + ReLU -> "
                          "dense %d -> softmax",
                      a->k, a->k, a->c1, a->k, a->k, a->c2, a->hidden, a->classes));
    char *doc = jn_arena_printf(&b.a,
                         "%s exported by junction: input 'input' FP32 [N, %d, %d, %d] (NCHW; %s) -> output 'scores' "
                         "FP32 [N, %d] (softmax probabilities, columns in the order of the 'labels' metadata)",
                         source, a->c, a->h, a->w, preprocessing, a->classes);
    int rc = b.a.oom ? jn_err_set(err, JN_ENOMEM, "ONNX export: out of memory")
                   : finish(&b, source, doc, path, err);
    builder_free(&b);
    return rc;
}

int jn_onnx_export_text_linear(const jn_text_model *m, const char *source, const char *path, jn_err *err)
{
    builder b = {0};
    const size_t d = m->lin.dim, k = m->lin.k;
    const int64_t wd[2] = {(int64_t)d, (int64_t)k}, bd[1] = {(int64_t)k};
    float *w = add_initializer(&b, "W", 2, wd), *bias = add_initializer(&b, "b", 1, bd);
    if (w && bias) {
        memcpy(w, m->lin.w, d * k * sizeof(float));
        memcpy(bias, m->lin.b, k * sizeof(float));
    }
    const char *gemm_in[3] = {"features", "W", "b"}, *soft_in[1] = {"logits"};
    add_node(&b, "Gemm", "linear", 3, gemm_in, "logits");
    attr_int(&b, add_node(&b, "Softmax", "softmax", 1, soft_in, "scores"), "axis", 1);
    const int64_t in_dims[2] = {-1, (int64_t)d}, out_dims[2] = {-1, (int64_t)k};
    add_value_info(&b, 1, "features", 2, in_dims);
    add_value_info(&b, 0, "scores", 2, out_dims);

    add_labels_meta(&b, (const char *const *)m->labels, k);
    add_meta(&b, "source", source);
    const jn_text_hash_config *c = &m->cfg;
    char *features = jn_arena_printf(&b.a,
        "UTF-8 text -> tokens (lower-cased words, CJK characters as tokens%s) -> word 1..%d-grams and character "
        "%d..%d-grams hashed (FNV-1a 32 + fmix32, seed %u) into 2^%d buckets -> 1 + ln(tf) -> L2 normalization "
        "(junction engines/text: jn_text_features)",
        c->stopwords ? ", English stop words dropped" : "", c->word_ngrams, c->char_min, c->char_max,
        (unsigned)c->seed, c->dim_bits);
    add_meta(&b, "preprocessing", features);
    char num[32];
    snprintf(num, sizeof num, "%d", c->dim_bits);
    add_meta(&b, "dim_bits", num);
    snprintf(num, sizeof num, "%d", c->word_ngrams);
    add_meta(&b, "word_ngrams", num);
    snprintf(num, sizeof num, "%d", c->char_min);
    add_meta(&b, "char_min", num);
    snprintf(num, sizeof num, "%d", c->char_max);
    add_meta(&b, "char_max", num);
    snprintf(num, sizeof num, "%d", c->stopwords ? 1 : 0);
    add_meta(&b, "stopwords", num);
    snprintf(num, sizeof num, "%u", (unsigned)c->seed);
    add_meta(&b, "seed", num);
    char *doc = jn_arena_printf(&b.a,
                         "%s (linear softmax head) exported by junction: input 'features' FP32 [N, %zu] (the hashed "
                         "feature vector, see the 'preprocessing' metadata) -> output 'scores' FP32 [N, %zu]",
                         source, d, k);
    int rc = b.a.oom ? jn_err_set(err, JN_ENOMEM, "ONNX export: out of memory")
                   : finish(&b, source, doc, path, err);
    builder_free(&b);
    return rc;
}
