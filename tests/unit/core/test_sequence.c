/* Unit tests for core/sequence.c (issue #17): the sequence engine's public signature, the table's FIFO order per
 * sequence, state carried and restarted, max_sequences, idle_timeout_ms (the sweeper), streams' scopes, bad
 * parameters, and many threads on a few sequences (each call alone on its sequence, none lost). Also run under
 * ThreadSanitizer (label tsan). */
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_config.h"
#include "sequence.h"
#include "test.h"

/* ---- a counter: y = state (before), stateN = state + x; notes calls running at once per sequence ---- */

static atomic_int overlaps;

static int count_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, jn_err *err)
{
    (void)self;
    (void)ctx;
    const jn_tensor *x = jn_tensor_list_find(inputs, "x"), *s = jn_tensor_list_find(inputs, "state");
    if (!x || !s)
        return jn_err_set(err, JN_EINVAL, "missing input");
    const int64_t shape[2] = {1, 1};
    jn_tensor *y = jn_tensor_create("y", JN_DTYPE_FP32, 2, shape, err);
    jn_tensor *n = jn_tensor_create("stateN", JN_DTYPE_FP32, 2, shape, err);
    if (!y || !n)
        return JN_ENOMEM;
    *(float *)y->data = *(const float *)s->data;
    *(float *)n->data = *(const float *)s->data + *(const float *)x->data;
    jn_tensor_list_push(outputs, y);
    return jn_tensor_list_push(outputs, n);
}

static const jn_engine_vtable count_vt = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "test",
                                          .infer = count_infer};

static jn_engine *make_counter(const char *json)
{
    jn_err err;
    jn_err_clear(&err);
    jn_engine *e = jn_engine_create(&count_vt, "counter", "1", NULL, NULL, &err);
    JN_REQUIRE(e);
    const int64_t one[2] = {1, 1};
    JN_REQUIRE(jn_signature_add_input(&e->sig, "x", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, one, &err) == 0);
    JN_REQUIRE(jn_signature_add_input(&e->sig, "state", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, one, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "y", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, one, &err) == 0);
    JN_REQUIRE(jn_signature_add_output(&e->sig, "stateN", JN_KIND_TENSOR, JN_DTYPE_FP32, 2, one, &err) == 0);
    jn_model_config cfg;
    int rc = jn_model_config_parse_text(json, strlen(json), "test", &cfg, &err);
    if (!rc)
        rc = jn_model_config_check(&cfg, e, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    JN_REQUIRE(rc == 0);
    jn_engine *w = jn_sequence_engine_wrap(e, &cfg.sequence, &err);
    JN_REQUIRE(w);
    return w;
}

static float run_one(jn_seq_slot *slot, float x, float *state_out)
{
    jn_err err;
    jn_err_clear(&err);
    const int64_t one[2] = {1, 1};
    jn_tensor_list in, out;
    jn_tensor_list_init(&in);
    jn_tensor_list_init(&out);
    jn_tensor *t = jn_tensor_create("x", JN_DTYPE_FP32, 2, one, &err);
    *(float *)t->data = x;
    jn_tensor_list_push(&in, t);
    const char *names[2] = {"y", "stateN"};
    jn_infer_ctx ctx = {.model = "counter", .request_id = "", .outputs = names, .n_outputs = state_out ? 2 : 1};
    int rc = jn_seq_run(slot, &ctx, &in, &out, &err);
    if (rc)
        fprintf(stderr, "run: %s\n", err.msg);
    JN_CHECK_INT_OP(rc, ==, 0);
    JN_CHECK_INT_OP(out.count, ==, state_out ? 2 : 1);
    float y = out.count ? *(float *)out.items[0]->data : -1;
    if (state_out && out.count == 2)
        *state_out = *(float *)out.items[1]->data;
    jn_tensor_list_clear(&in);
    jn_tensor_list_clear(&out);
    return y;
}

static int join(jn_seq_table *t, jn_params *p, jn_seq_scope *scope, void *handle, jn_seq_slot *slot, bool *parked,
                jn_err *err)
{
    jn_err_clear(err);
    return jn_seq_join(t, p, scope, handle, slot, parked, err);
}

static void test_signature(void)
{
    jn_engine *e = make_counter("{\"sequence\": {\"state\": [{\"input\": \"state\", \"output\": \"stateN\"}]}}");
    JN_CHECK_INT_OP(e->sig.n_inputs, ==, 1);
    JN_CHECK_INT_OP(e->sig.n_outputs, ==, 1);
    JN_CHECK(jn_signature_find_input(&e->sig, "state") == NULL);
    JN_CHECK(jn_engine_find_output(e, "stateN") != NULL); /* may be asked for by name */
    JN_CHECK(jn_sequence_inner(e) != NULL && jn_sequence_table(e) != NULL);
    JN_CHECK(e->flags & JN_ENGINE_VOLATILE);
    jn_engine_unref(e);
}

static void test_order_and_state(void)
{
    jn_engine *e = make_counter("{\"sequence\": {\"state\": [{\"input\": \"state\", \"output\": \"stateN\", "
                                "\"initial\": [5]}]}}");
    jn_seq_table *t = jn_sequence_table(e);
    jn_params p;
    jn_params_init(&p);
    jn_params_set_int(&p, "sequence_id", 42);
    jn_params_set_bool(&p, "sequence_start", true);
    jn_err err;
    bool parked;
    jn_seq_slot slots[5];
    int handles[5] = {0, 1, 2, 3, 4};
    JN_CHECK_INT_OP(join(t, &p, NULL, &handles[0], &slots[0], &parked, &err), ==, 0);
    JN_CHECK(!parked);
    jn_params_clear(&p);
    jn_params_init(&p);
    jn_params_set_int(&p, "sequence_id", 42);
    for (int i = 1; i < 5; i++) {
        JN_CHECK_INT_OP(join(t, &p, NULL, &handles[i], &slots[i], &parked, &err), ==, 0);
        JN_CHECK(parked); /* behind the running call */
    }
    /* each leave hands the sequence to the next in the order they joined; the state goes along */
    float expect = 5; /* the literal initial value */
    for (int i = 0; i < 5; i++) {
        JN_CHECK(run_one(&slots[i], 1, NULL) == expect);
        expect += 1;
        void *next = jn_seq_leave(&slots[i]);
        JN_CHECK(next == (i < 4 ? (void *)&handles[i + 1] : NULL));
    }
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 1);
    /* sequence_start restarts once per call: a call running two steps carries the state between them */
    jn_params_set_bool(&p, "sequence_start", true);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, 0);
    JN_CHECK(run_one(&slots[0], 1, NULL) == 5 && run_one(&slots[0], 1, NULL) == 6);
    jn_seq_leave(&slots[0]);
    jn_params_clear(&p);
    jn_params_init(&p);
    jn_params_set_int(&p, "sequence_id", 42);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, 0);
    JN_CHECK(run_one(&slots[0], 3, NULL) == 7);
    jn_seq_leave(&slots[0]);
    /* sequence_end: gone after the call */
    jn_params_set_bool(&p, "sequence_end", true);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, 0);
    float st = 0;
    JN_CHECK(run_one(&slots[0], 2, &st) == 10 && st == 12); /* 5 + 1 + 1 + 3 */
    jn_seq_leave(&slots[0]);
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 0);
    jn_params_clear(&p);
    jn_params_init(&p);
    jn_params_set_int(&p, "sequence_id", 42);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "sequence_start") != NULL);
    /* a string id is another sequence than the integer of the same digits */
    jn_params_set_string(&p, "sequence_id", "42");
    jn_params_set_bool(&p, "sequence_start", true);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, 0);
    JN_CHECK(run_one(&slots[0], 1, NULL) == 5);
    jn_seq_leave(&slots[0]);
    /* bad parameters */
    jn_params_set_double(&p, "sequence_id", 1.5);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "'sequence_id'") != NULL);
    jn_params_set_int(&p, "sequence_id", 1);
    jn_params_set_int(&p, "sequence_start", 1);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slots[0], &parked, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "'sequence_start'") != NULL);
    /* a lone call: the initial value every time, never in the table */
    for (int i = 0; i < 2; i++) {
        JN_CHECK_INT_OP(join(t, NULL, NULL, NULL, &slots[0], &parked, &err), ==, 0);
        JN_CHECK(run_one(&slots[0], 3, NULL) == 5);
        jn_seq_leave(&slots[0]);
    }
    jn_params_clear(&p);
    jn_engine_unref(e);
}

static void test_limit_timeout_scope(void)
{
    jn_engine *e = make_counter("{\"sequence\": {\"state\": [{\"input\": \"state\", \"output\": \"stateN\"}], "
                                "\"max_sequences\": 2, \"idle_timeout_ms\": 40}}");
    jn_seq_table *t = jn_sequence_table(e);
    jn_err err;
    bool parked;
    jn_seq_slot slot;
    jn_params p;
    jn_params_init(&p);
    jn_params_set_bool(&p, "sequence_start", true);
    for (int i = 0; i < 3; i++) {
        jn_params_set_int(&p, "sequence_id", i);
        int rc = join(t, &p, NULL, NULL, &slot, &parked, &err);
        JN_CHECK_INT_OP(rc, ==, i < 2 ? 0 : JN_ERESOURCE);
        if (!rc)
            jn_seq_leave(&slot);
    }
    JN_CHECK(strstr(err.msg, "max_sequences is 2") != NULL);
    /* a stream's scope counts too, and frees its place when closed */
    usleep(200 * 1000); /* the sweeper (every 10 ms here) drops both */
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 0);
    jn_params_clear(&p);
    jn_params_init(&p);
    jn_params_set_int(&p, "sequence_id", 0);
    JN_CHECK_INT_OP(join(t, &p, NULL, NULL, &slot, &parked, &err), ==, JN_EINVAL);
    JN_CHECK(strstr(err.msg, "idle_timeout_ms 40") != NULL);
    jn_seq_scope *a = jn_seq_scope_create(), *b = jn_seq_scope_create(), *c = jn_seq_scope_create();
    JN_REQUIRE(a && b && c);
    JN_CHECK_INT_OP(join(t, NULL, a, NULL, &slot, &parked, &err), ==, 0);
    JN_CHECK(run_one(&slot, 2, NULL) == 0);
    jn_seq_leave(&slot);
    JN_CHECK_INT_OP(join(t, NULL, a, NULL, &slot, &parked, &err), ==, 0);
    JN_CHECK(run_one(&slot, 2, NULL) == 2); /* the stream's state */
    /* closing the stream while its call runs: the sequence ends when that call leaves */
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 1);
    jn_seq_scope_close(a);
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 1);
    jn_seq_leave(&slot);
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 0);
    JN_CHECK_INT_OP(join(t, NULL, b, NULL, &slot, &parked, &err), ==, 0);
    jn_seq_leave(&slot);
    JN_CHECK_INT_OP(join(t, NULL, c, NULL, &slot, &parked, &err), ==, 0);
    jn_seq_leave(&slot);
    jn_seq_scope_close(b);
    jn_seq_scope_close(c);
    JN_CHECK_INT_OP(jn_seq_table_count(t), ==, 0);
    jn_params_clear(&p);
    jn_engine_unref(e);
}

/* ---- many threads, a few sequences ---- */

enum { THREADS = 8, CALLS = 300, SEQS = 3 };

typedef struct caller {
    sem_t turn;
    jn_seq_slot slot;
} caller;

static jn_seq_table *shared;
static atomic_int running[SEQS];

static void hand_over(void *next)
{
    if (next)
        sem_post(&((caller *)next)->turn);
}

static void *hammer(void *arg)
{
    long id = (long)arg;
    caller *me = calloc(1, sizeof *me);
    sem_init(&me->turn, 0, 0);
    jn_params p;
    jn_params_init(&p);
    for (int i = 0; i < CALLS; i++) {
        int s = (int)((id + i) % SEQS);
        jn_params_set_int(&p, "sequence_id", s);
        jn_err err;
        bool parked;
        int rc = join(shared, &p, NULL, me, &me->slot, &parked, &err);
        JN_CHECK_INT_OP(rc, ==, 0);
        if (rc)
            continue;
        if (parked)
            sem_wait(&me->turn); /* handed over by the call before */
        if (atomic_fetch_add(&running[s], 1) != 0)
            atomic_fetch_add(&overlaps, 1);
        run_one(&me->slot, 1, NULL);
        atomic_fetch_sub(&running[s], 1);
        hand_over(jn_seq_leave(&me->slot));
    }
    jn_params_clear(&p);
    sem_destroy(&me->turn);
    free(me);
    return NULL;
}

static void test_concurrency(void)
{
    jn_engine *e = make_counter("{\"sequence\": {\"state\": [{\"input\": \"state\", \"output\": \"stateN\"}], "
                                "\"idle_timeout_ms\": 60000}}");
    shared = jn_sequence_table(e);
    jn_err err;
    bool parked;
    jn_seq_slot slot;
    jn_params p;
    jn_params_init(&p);
    jn_params_set_bool(&p, "sequence_start", true);
    for (int s = 0; s < SEQS; s++) {
        jn_params_set_int(&p, "sequence_id", s);
        JN_REQUIRE(join(shared, &p, NULL, NULL, &slot, &parked, &err) == 0);
        jn_seq_leave(&slot);
    }
    jn_params_clear(&p);
    jn_params_init(&p);
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, hammer, (void *)i);
    for (int i = 0; i < 50; i++) { /* sweeps racing the calls: nothing is idle for a minute, nothing goes */
        JN_CHECK_INT_OP(jn_seq_table_sweep(shared), ==, 0);
        usleep(1000);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    JN_CHECK_INT_OP(atomic_load(&overlaps), ==, 0);
    /* every call counted, each exactly once: the states add up to all the calls */
    float total = 0;
    for (int s = 0; s < SEQS; s++) {
        jn_params_set_int(&p, "sequence_id", s);
        JN_CHECK_INT_OP(join(shared, &p, NULL, NULL, &slot, &parked, &err), ==, 0);
        if (slot.seq) {
            JN_CHECK(!parked);
            float st = 0;
            run_one(&slot, 0, &st);
            total += st;
            jn_seq_leave(&slot);
        }
    }
    JN_CHECK(total == (float)(THREADS * CALLS));
    jn_params_clear(&p);
    jn_engine_unref(e);
}

int main(void)
{
    JN_TEST_RUN(test_signature);
    JN_TEST_RUN(test_order_and_state);
    JN_TEST_RUN(test_limit_timeout_scope);
    JN_TEST_RUN(test_concurrency);
    return JN_TEST_EXIT();
}
