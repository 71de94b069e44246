/* Unit tests for broker/core/registry.c (and the engine refcounting it relies on): add/get/remove/list, the
 * ownership rules (rejected engines released, removed engines kept alive by their callers), and concurrency. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "test.h"

/* An engine whose destroy callback counts into its ctx. */
typedef struct probe {
    atomic_int destroyed;
} probe;

static int probe_infer(jn_engine *self, const jn_infer_ctx *ctx, const jn_tensor_list *inputs,
                       jn_tensor_list *outputs, jn_err *err)
{
    return 0;
}

static void probe_destroy(jn_engine *self)
{
    probe *p = self->ctx;
    atomic_fetch_add(&p->destroyed, 1);
}

static const jn_engine_vtable probe_vtable = {
    .abi_version = JN_ENGINE_ABI_VERSION,
    .platform = "test",
    .infer = probe_infer,
    .destroy = probe_destroy,
};

static jn_engine *make(const char *name, const char *version, probe *p)
{
    jn_err err;
    jn_engine *e = jn_engine_create(&probe_vtable, name, version, NULL, p, &err);
    JN_REQUIRE(e);
    return e;
}

static void test_add_get_remove(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe pa = {0}, pb = {0}, pc = {0};
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("beta", NULL, &pb), &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("alpha", "3", &pa), &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("gamma", NULL, &pc), &err), 0);
    JN_CHECK_INT_EQ(err.code, 0);

    jn_engine *e = jn_registry_get(reg, "alpha", NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_STR_EQ(e->name, "alpha");
    JN_CHECK_STR_EQ(e->version, "3");
    JN_CHECK_PTR_EQ(e->ctx, &pa);
    JN_CHECK_INT_EQ(atomic_load(&e->refs), 2); /* the registry's and ours */
    jn_engine_unref(e);
    JN_CHECK_INT_EQ(atomic_load(&e->refs), 1);
    JN_CHECK_INT_EQ(atomic_load(&pa.destroyed), 0);

    e = jn_registry_get(reg, "beta", "", &err);
    JN_REQUIRE(e);
    JN_CHECK_STR_EQ(e->version, "1"); /* NULL version -> "1" */
    jn_engine_unref(e);

    JN_CHECK_INT_EQ(jn_registry_remove(reg, "beta", &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&pb.destroyed), 1); /* nobody else held it */
    JN_CHECK(jn_registry_get(reg, "beta", NULL, &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'beta' is not registered");
    JN_CHECK_ERR(jn_registry_remove(reg, "beta", &err), err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "'beta'");
    JN_CHECK_INT_EQ(atomic_load(&pb.destroyed), 1);

    /* The others are still there. */
    e = jn_registry_get(reg, "gamma", NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_PTR_EQ(e->ctx, &pc);
    jn_engine_unref(e);

    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&pa.destroyed), 1);
    JN_CHECK_INT_EQ(atomic_load(&pb.destroyed), 1);
    JN_CHECK_INT_EQ(atomic_load(&pc.destroyed), 1);
    jn_registry_destroy(NULL);
}

static void test_duplicate_add(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe first = {0}, second = {0};
    jn_err err;
    jn_err_clear(&err);
    jn_engine *orig = make("dup", NULL, &first);
    JN_CHECK_INT_EQ(jn_registry_add(reg, orig, &err), 0);
    JN_CHECK_ERR(jn_registry_add(reg, make("dup", "2", &second), &err), err, JN_EEXIST);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'dup' is already registered");
    JN_CHECK_INT_EQ(atomic_load(&second.destroyed), 1); /* the rejected engine was released */
    JN_CHECK_INT_EQ(atomic_load(&first.destroyed), 0);

    jn_engine *e = jn_registry_get(reg, "dup", NULL, &err);
    JN_REQUIRE(e);
    JN_CHECK_PTR_EQ(e, orig); /* the first one stays */
    JN_CHECK_PTR_EQ(e->ctx, &first);
    jn_engine_unref(e);
    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&first.destroyed), 1);
}

static void test_not_found_and_versions(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe p = {0};
    jn_err err;
    jn_err_clear(&err);

    JN_CHECK(jn_registry_get(reg, "ghost", NULL, &err) == NULL); /* empty registry */
    JN_CHECK_INT_EQ(err.code, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "'ghost'");

    jn_engine *orig = make("resnet", "2", &p);
    JN_CHECK_INT_EQ(jn_registry_add(reg, orig, &err), 0);
    jn_engine *e = jn_registry_get(reg, "resnet", "2", &err);
    JN_CHECK_PTR_EQ(e, orig);
    jn_engine_unref(e);

    jn_err_clear(&err);
    JN_CHECK(jn_registry_get(reg, "resnet", "3", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'resnet'");
    JN_CHECK_STR_CONTAINS(err.msg, "no version '3'");
    JN_CHECK_STR_CONTAINS(err.msg, "available: '2'");
    JN_CHECK_INT_EQ(atomic_load(&orig->refs), 1); /* the failed lookup dropped its reference */

    JN_CHECK(jn_registry_get(reg, "resne", NULL, &err) == NULL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'resne' is not registered");
    JN_CHECK(jn_registry_get(reg, "resnet2", NULL, NULL) == NULL); /* err may be NULL */
    JN_CHECK_ERR(jn_registry_remove(reg, "nothing", &err), err, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'nothing' is not registered");

    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 1);
}

static void test_list_sorted(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe p = {0};
    jn_engine **list = (jn_engine **)&list;
    JN_CHECK_INT_EQ(jn_registry_list(reg, &list), 0);
    JN_CHECK(list == NULL);

    const char *names[] = {"mnist", "burn", "identity", "zeta", "alpha", "Alpha", "mnist-v2", "b"};
    const size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++)
        JN_CHECK_INT_EQ(jn_registry_add(reg, make(names[i], NULL, &p), NULL), 0);
    long got = jn_registry_list(reg, &list);
    JN_CHECK_INT_EQ(got, n);
    JN_REQUIRE(list);
    const char *sorted[] = {"Alpha", "alpha", "b", "burn", "identity", "mnist", "mnist-v2", "zeta"};
    for (long i = 0; i < got && i < (long)n; i++) {
        JN_CHECK_STR_EQ(list[i]->name, sorted[i]);
        JN_CHECK_INT_EQ(atomic_load(&list[i]->refs), 2); /* the list holds references */
    }
    /* The list's references keep engines alive after they leave the registry. */
    JN_CHECK_INT_EQ(jn_registry_remove(reg, "zeta", NULL), 0);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 0);
    JN_CHECK_STR_EQ(list[got - 1]->name, "zeta");
    jn_registry_list_free(list, got);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 1); /* zeta's last reference */

    got = jn_registry_list(reg, &list);
    JN_CHECK_INT_EQ(got, n - 1);
    jn_registry_list_free(list, got);
    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), n);
}

static void test_removed_engine_outlives_caller_reference(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe p = {0};
    jn_err err;
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("busy", "7", &p), &err), 0);
    jn_engine *held = jn_registry_get(reg, "busy", NULL, &err); /* a call in flight */
    JN_REQUIRE(held);

    JN_CHECK_INT_EQ(jn_registry_remove(reg, "busy", &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 0);
    JN_CHECK(jn_registry_get(reg, "busy", NULL, &err) == NULL); /* gone for new callers */
    /* Still fully usable by its holder. */
    JN_CHECK_STR_EQ(held->name, "busy");
    JN_CHECK_STR_EQ(held->version, "7");
    jn_tensor_list out;
    jn_tensor_list_init(&out);
    jn_infer_ctx ctx = {.model = "busy", .request_id = ""};
    JN_CHECK_INT_EQ(held->vt->infer(held, &ctx, &out, &out, &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&held->refs), 1);

    /* A new engine may take the name while the old one is still alive. */
    probe q = {0};
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("busy", "8", &q), &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 0);

    jn_engine_unref(held); /* the call finishes */
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 1);
    JN_CHECK_INT_EQ(atomic_load(&q.destroyed), 0);
    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&q.destroyed), 1);
}

static void test_engine_create_checks_abi(void)
{
    static const jn_engine_vtable old_abi = {.abi_version = 0, .platform = "old", .infer = probe_infer};
    static const jn_engine_vtable no_infer = {.abi_version = JN_ENGINE_ABI_VERSION, .platform = "x"};
    probe p = {0};
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK(jn_engine_create(&old_abi, "legacy", NULL, NULL, &p, &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "'legacy'");
    JN_CHECK_STR_CONTAINS(err.msg, "ABI version 0");
    jn_err_clear(&err);
    JN_CHECK(jn_engine_create(&no_infer, "half", NULL, NULL, &p, &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_EINVAL);
    JN_CHECK(jn_engine_create(NULL, "none", NULL, NULL, &p, &err) == NULL);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 0); /* ctx stays the caller's on failure */

    jn_engine *e = jn_engine_create(&probe_vtable, "described", NULL, "a description", &p, &err);
    JN_REQUIRE(e);
    JN_CHECK_STR_EQ(e->description, "a description");
    JN_CHECK_INT_EQ(atomic_load(&e->ready), 1);
    JN_CHECK_INT_EQ(e->flags, 0);
    JN_CHECK_PTR_EQ(jn_engine_ref(e), e);
    jn_engine_unref(e);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 0);
    jn_engine_unref(e);
    JN_CHECK_INT_EQ(atomic_load(&p.destroyed), 1);
    jn_engine_unref(NULL);
}

/* Concurrency: threads add, get, remove and list engines drawn from a small set of names. */
enum { N_THREADS = 6, N_ITERS = 3000, N_NAMES = 8 };

static const char *const pool_names[N_NAMES] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"};

typedef struct stress {
    jn_registry *reg;
    probe destroyed; /* shared by every engine made here */
    atomic_int created;
    atomic_int pinned_misses;
} stress;

typedef struct stress_arg {
    stress *s;
    unsigned seed;
} stress_arg;

static void *stress_main(void *p)
{
    stress_arg *a = p;
    stress *s = a->s;
    unsigned seed = a->seed;
    for (int i = 0; i < N_ITERS; i++) {
        jn_err err;
        jn_err_clear(&err);
        const char *name = pool_names[rand_r(&seed) % N_NAMES];
        switch (rand_r(&seed) % 5) {
        case 0: {
            atomic_fetch_add(&s->created, 1);
            int rc = jn_registry_add(s->reg, make(name, NULL, &s->destroyed), &err);
            if (rc != 0 && rc != JN_EEXIST)
                jn__test_fail(__FILE__, __LINE__, "add '%s' returned %d (%s)", name, rc, err.msg);
            break;
        }
        case 1: {
            int rc = jn_registry_remove(s->reg, name, &err);
            if (rc != 0 && rc != JN_ENOTFOUND)
                jn__test_fail(__FILE__, __LINE__, "remove '%s' returned %d (%s)", name, rc, err.msg);
            break;
        }
        case 2:
        case 3: {
            jn_engine *e = jn_registry_get(s->reg, name, NULL, &err);
            if (e) {
                if (strcmp(e->name, name) != 0)
                    jn__test_fail(__FILE__, __LINE__, "get '%s' returned '%s'", name, e->name);
                jn_engine_unref(e);
            } else if (err.code != JN_ENOTFOUND) {
                jn__test_fail(__FILE__, __LINE__, "get '%s' failed with %d", name, err.code);
            }
            e = jn_registry_get(s->reg, "pinned", NULL, NULL); /* never removed: always found */
            if (!e)
                atomic_fetch_add(&s->pinned_misses, 1);
            jn_engine_unref(e);
            break;
        }
        default: {
            jn_engine **list;
            long n = jn_registry_list(s->reg, &list);
            if (n < 1 || n > N_NAMES + 1)
                jn__test_fail(__FILE__, __LINE__, "list returned %ld engines", n);
            for (long k = 1; k < n; k++)
                if (strcmp(list[k - 1]->name, list[k]->name) >= 0)
                    jn__test_fail(__FILE__, __LINE__, "list not sorted: '%s' before '%s'", list[k - 1]->name,
                                  list[k]->name);
            jn_registry_list_free(list, n);
            break;
        }
        }
    }
    return NULL;
}

static void test_concurrent(void)
{
    stress s;
    memset(&s, 0, sizeof s);
    s.reg = jn_registry_create();
    JN_REQUIRE(s.reg);
    atomic_init(&s.destroyed.destroyed, 0);
    atomic_init(&s.created, 1);
    atomic_init(&s.pinned_misses, 0);
    JN_CHECK_INT_EQ(jn_registry_add(s.reg, make("pinned", NULL, &s.destroyed), NULL), 0);

    pthread_t th[N_THREADS];
    stress_arg args[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        args[i].s = &s;
        args[i].seed = 0x9E3779B9u * (unsigned)(i + 1);
        JN_REQUIRE(pthread_create(&th[i], NULL, stress_main, &args[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);

    JN_CHECK_INT_EQ(atomic_load(&s.pinned_misses), 0);
    /* Final state: sorted, unique, and every engine not in the table has been destroyed. */
    jn_engine **list;
    long n = jn_registry_list(s.reg, &list);
    JN_CHECK_INT_GE(n, 1);
    for (long k = 1; k < n; k++)
        JN_CHECK_INT_LT(strcmp(list[k - 1]->name, list[k]->name), 0);
    for (long k = 0; k < n; k++) {
        JN_CHECK_INT_EQ(atomic_load(&list[k]->refs), 2); /* registry + list: no reference leaked */
        jn_engine *e = jn_registry_get(s.reg, list[k]->name, NULL, NULL);
        JN_CHECK_PTR_EQ(e, list[k]);
        jn_engine_unref(e);
    }
    JN_CHECK_INT_EQ(atomic_load(&s.destroyed.destroyed), atomic_load(&s.created) - n);
    jn_registry_list_free(list, n);
    jn_registry_destroy(s.reg);
    JN_CHECK_INT_EQ(atomic_load(&s.destroyed.destroyed), atomic_load(&s.created));
}

/* Several versions of one name (issue #20): each its own entry; the default is the highest ready one; exact lookups
 * name what there is; put replaces them all, remove removes them all, remove_version one; configure each. */
static int replace_all_ok(const jn_engine *existing, void *arg, jn_err *err)
{
    (void)existing;
    (void)arg;
    (void)err;
    return 0;
}

static void test_versions(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe p1 = {0}, p2 = {0}, p10 = {0}, px = {0}, pp = {0};
    jn_err err;
    jn_err_clear(&err);
    JN_CHECK_INT_LT(jn_version_cmp("9", "10"), 0);
    JN_CHECK_INT_EQ(jn_version_cmp("007", "7"), 0);
    JN_CHECK_INT_LT(jn_version_cmp("10", "beta"), 0);
    JN_CHECK_INT_LT(jn_version_cmp("alpha", "beta"), 0);
    JN_CHECK_INT_EQ(jn_registry_add_version(reg, make("m", "2", &p2), NULL, &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add_version(reg, make("m", "10", &p10), NULL, &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add_version(reg, make("m", "1", &p1), NULL, &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add(reg, make("a", "1", &px), &err), 0);
    JN_CHECK_INT_EQ(jn_registry_add_version(reg, make("m", "2", &pp), NULL, &err), JN_EEXIST);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm' already has version '2'");
    JN_CHECK_INT_EQ(atomic_load(&pp.destroyed), 1); /* the refused engine is released */

    char **v;
    long n = jn_registry_versions(reg, "m", &v);
    JN_REQUIRE(n == 3);
    JN_CHECK_STR_EQ(v[0], "1");
    JN_CHECK_STR_EQ(v[1], "2");
    JN_CHECK_STR_EQ(v[2], "10");
    jn_registry_versions_free(v, n);
    JN_CHECK_INT_EQ(jn_registry_versions(reg, "nope", &v), 0);

    jn_model *m = jn_registry_resolve(reg, "m", "", &err); /* the highest */
    JN_REQUIRE(m);
    JN_CHECK_STR_EQ(m->engine->version, "10");
    jn_model *m2 = jn_registry_resolve(reg, "m", "2", &err);
    JN_REQUIRE(m2);
    JN_CHECK_PTR_EQ(m2->engine->ctx, &p2);
    JN_CHECK(m->serial != m2->serial); /* own entries: own statistics, batcher and cache serial */
    atomic_store(&m->engine->ready, false); /* the highest ready one is the default */
    jn_model *m3 = jn_registry_resolve(reg, "m", NULL, &err);
    JN_REQUIRE(m3);
    JN_CHECK_STR_EQ(m3->engine->version, "2");
    atomic_store(&m->engine->ready, true);
    jn_model_unref(m);
    jn_model_unref(m2);
    jn_model_unref(m3);
    JN_CHECK(jn_registry_resolve(reg, "m", "3", &err) == NULL);
    JN_CHECK_INT_EQ(err.code, JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm' has no version '3' (available: '1', '2', '10')");

    jn_engine **list;
    n = jn_registry_list(reg, &list); /* every version, by name then version */
    JN_REQUIRE(n == 4);
    JN_CHECK_STR_EQ(list[0]->name, "a");
    JN_CHECK_STR_EQ(list[1]->version, "1");
    JN_CHECK_STR_EQ(list[3]->version, "10");
    jn_registry_list_free(list, n);

    jn_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    JN_CHECK_INT_EQ(jn_registry_configure(reg, "m", &cfg, &err), 0);
    JN_CHECK_INT_EQ(jn_registry_versions(reg, "m", &v), 3);
    jn_registry_versions_free(v, 3);

    JN_CHECK_INT_EQ(jn_registry_remove_version(reg, "m", "2", &err), 0);
    JN_CHECK_INT_EQ(atomic_load(&p2.destroyed), 1);
    JN_CHECK_INT_EQ(jn_registry_remove_version(reg, "m", "2", &err), JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm' has no version '2'");
    JN_CHECK_INT_EQ(jn_registry_remove_version(reg, "zz", "2", &err), JN_ENOTFOUND);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'zz' is not registered");
    bool replaced = false;
    JN_CHECK_INT_EQ(jn_registry_put(reg, make("m", "7", &pp), NULL, replace_all_ok, NULL, &replaced, &err), 0);
    JN_CHECK(replaced);
    JN_CHECK_INT_EQ(jn_registry_versions(reg, "m", &v), 1); /* put: the name as a whole */
    JN_CHECK_STR_EQ(v[0], "7");
    jn_registry_versions_free(v, 1);
    JN_CHECK_INT_EQ(atomic_load(&p1.destroyed) + atomic_load(&p10.destroyed), 2);
    JN_CHECK_INT_EQ(jn_registry_remove(reg, "m", &err), 0);
    JN_CHECK_INT_EQ(jn_registry_versions(reg, "m", &v), 0);
    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&px.destroyed), 1);
}

/* A set of versions replaced in one step; a bad set (out of order, two names) refused with every engine released. */
static void test_put_versions(void)
{
    jn_registry *reg = jn_registry_create();
    JN_REQUIRE(reg);
    probe p[6] = {{0}};
    jn_err err;
    jn_err_clear(&err);
    jn_engine *first[2] = {make("m", "1", &p[0]), make("m", "2", &p[1])};
    bool replaced = true;
    JN_CHECK_INT_EQ(jn_registry_put_versions(reg, first, NULL, 2, replace_all_ok, NULL, &replaced, &err), 0);
    JN_CHECK(!replaced);
    jn_engine *next[2] = {make("m", "2", &p[2]), make("m", "10", &p[3])};
    JN_CHECK_INT_EQ(jn_registry_put_versions(reg, next, NULL, 2, replace_all_ok, NULL, &replaced, &err), 0);
    JN_CHECK(replaced);
    JN_CHECK_INT_EQ(atomic_load(&p[0].destroyed) + atomic_load(&p[1].destroyed), 2);
    char **v;
    long n = jn_registry_versions(reg, "m", &v);
    JN_REQUIRE(n == 2);
    JN_CHECK_STR_EQ(v[0], "2");
    JN_CHECK_STR_EQ(v[1], "10");
    jn_registry_versions_free(v, n);
    jn_engine *bad[2] = {make("m", "3", &p[4]), make("m", "3", &p[5])};
    JN_CHECK_INT_EQ(jn_registry_put_versions(reg, bad, NULL, 2, replace_all_ok, NULL, NULL, &err), JN_EINVAL);
    JN_CHECK_STR_CONTAINS(err.msg, "model 'm': versions given out of order or twice ('3' after '3')");
    JN_CHECK_INT_EQ(atomic_load(&p[4].destroyed) + atomic_load(&p[5].destroyed), 2);
    jn_engine *refused[1] = {make("m", "4", &p[4])};
    JN_CHECK_INT_EQ(jn_registry_put_versions(reg, refused, NULL, 1, NULL, NULL, NULL, &err), JN_EEXIST);
    JN_CHECK_INT_EQ(jn_registry_versions(reg, "m", &v), 2); /* unchanged */
    jn_registry_versions_free(v, 2);
    jn_registry_destroy(reg);
    JN_CHECK_INT_EQ(atomic_load(&p[2].destroyed) + atomic_load(&p[3].destroyed), 2);
}

int main(void)
{
    JN_TEST_RUN(test_add_get_remove);
    JN_TEST_RUN(test_duplicate_add);
    JN_TEST_RUN(test_not_found_and_versions);
    JN_TEST_RUN(test_list_sorted);
    JN_TEST_RUN(test_removed_engine_outlives_caller_reference);
    JN_TEST_RUN(test_engine_create_checks_abi);
    JN_TEST_RUN(test_concurrent);
    JN_TEST_RUN(test_versions);
    JN_TEST_RUN(test_put_versions);
    return JN_TEST_EXIT();
}
