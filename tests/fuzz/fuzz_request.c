/*
 * fuzz_request.c - libFuzzer target for what the server does with a request
 * before and after routing, without sockets:
 *
 *   input = SELECTOR byte, then PATH up to the first '\n', then BODY
 *
 *   every input   routes_match(method, PATH); auth_check(PATH as an
 *                 Authorization header) against configured tokens
 *   SELECTOR % 5  0 recommend, 1 similar (handlers h_recommend/h_similar on a
 *                 small mf model: http_body_json, field validation, the
 *                 query itself, the response writer), 2 V1 predict body
 *                 (proto_v1_parse) and 3 V2 envelope + tensor
 *                 (proto_v2_parse_request, proto_v2_parse_tensor) against a
 *                 4-feature numeric classifier io, 4 the same against a text io
 *
 * A handler's answer must be valid JSON; anything else aborts.
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DENCORE_FUZZ=ON \
 *         -DENCORE_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
 *   cmake --build build-fuzz --target fuzz_request && tests/fuzz/run.sh 60 build-fuzz
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "mf/mf.h"
#include "protocol.h"
#include "server.h"

static struct server srv;

/* A 6-user x 5-item model with two tags, written to a temporary repository. */
static int make_model(const char *repo)
{
    enum { U = 6, I = 5, F = 3 };
    static float uf[U * F], itf[I * F], pop[I];
    for (int i = 0; i < U * F; i++)
        uf[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
    for (int i = 0; i < I * F; i++)
        itf[i] = (float)((i * 5) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < I; i++)
        pop[i] = (float)(I - i);
    static char *uids[U] = {"u0", "u1", "u2", "u3", "u4", "u5"};
    static char *iids[I] = {"i0", "i1", "i2", "i3", "i4"};
    static char *titles[I] = {"A", "B \"quoted\"", "", "D\xc3\xa9", "E"};
    static char *tags[2] = {"x", "y"};
    static int64_t seen_off[U + 1] = {0, 1, 2, 2, 3, 4, 5};
    static int32_t seen[5] = {0, 1, 2, 3, 4};
    static int64_t tag_off[I + 1] = {0, 1, 2, 2, 4, 4};
    static int32_t tag_ids[4] = {0, 1, 0, 1};
    struct mf_data d = {
        .n_users = U,
        .n_items = I,
        .factors = F,
        .user_factors = uf,
        .item_factors = itf,
        .user_ids = uids,
        .item_ids = iids,
        .seen_offsets = seen_off,
        .seen_items = seen,
        .item_popularity = pop,
        .titles = titles,
        .tag_names = tags,
        .n_tags = 2,
        .item_tag_offsets = tag_off,
        .item_tag_ids = tag_ids,
        .algorithm = "als",
        .regularization = 0.1,
        .alpha = 1.0,
    };
    char out[512];
    snprintf(out, sizeof out, "%s/demo", repo);
    json_t *hyper = json_object();
    enc_err err = {0};
    int64_t v;
    int rc = model_save(&mf_ops, &d, hyper, "fuzz", out, 1, &v, &err);
    json_decref(hyper);
    if (rc)
        fprintf(stderr, "fuzz_request: cannot write the model: %s\n", err.msg);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char repo[] = "/tmp/encore-fuzz-XXXXXX";
    enc_err err = {0};
    if (!mkdtemp(repo) || make_model(repo))
        abort();
    config_defaults(&srv.cfg);
    srv.cfg.models = repo;
    srv.cfg.max_history = 50;
    srv.cfg.max_k = 20;
    setenv("ENCORE_TOKENS", "fuzz-token-0123456789abcdef,second-token-zzzzzzzzzzzz", 1);
    setenv("ENCORE_ADMIN_TOKEN", "fuzz-admin-0123456789abcdef", 1);
    if (auth_load(&srv.cfg, &srv.auth, &err) || registry_new(repo, 1, NULL, &srv.reg, &err) ||
        registry_load_all(srv.reg, &err) != 1) {
        fprintf(stderr, "fuzz_request: setup: %s\n", err.msg);
        abort();
    }
    /* The model is mapped now: the files can go. */
    char p[600];
    snprintf(p, sizeof p, "%s/demo/1/%s", repo, ST_FILE_NAME);
    unlink(p);
    snprintf(p, sizeof p, "%s/demo/1", repo);
    rmdir(p);
    snprintf(p, sizeof p, "%s/demo", repo);
    rmdir(p);
    rmdir(repo);
    return 0;
}

static const char *const feature_names[4] = {"a", "b", "c", "d"};
static const char *const class_names[3] = {"x", "y", "z"};

static void check_json(const buf *out)
{
    if (out->oom)
        return;
    json_error_t jerr;
    json_t *j = json_loadb(out->data, out->len, 0, &jerr);
    if (!j) {
        fprintf(stderr, "handler wrote invalid JSON (%s): %.*s\n", jerr.text, (int)out->len,
                out->data);
        abort();
    }
    json_decref(j);
}

static void run_handler(int similar, const uint8_t *body, size_t n)
{
    struct http_req r;
    memset(&r, 0, sizeof r);
    r.srv = &srv;
    r.method = "POST";
    r.path = similar ? "/v1/models/demo:similar" : "/v1/models/demo:recommend";
    snprintf(r.params[0], sizeof r.params[0], "demo");
    r.n_params = 1;
    buf_init(&r.body);
    buf_init(&r.out);
    buf_append(&r.body, body, n);
    if (similar)
        h_similar(&r);
    else
        h_recommend(&r);
    if (r.status < 200 || r.status > 599)
        abort();
    check_json(&r.out);
    http_req_release(&r);
}

static void run_proto(int which, int text, const uint8_t *body, size_t n)
{
    struct model_io io = {0};
    if (text) {
        io.kind = MODEL_INPUT_TEXT;
    } else {
        io.kind = MODEL_INPUT_NUMERIC;
        io.n_features = 4;
        io.ndim = 1;
        io.shape[0] = 4;
        io.feature_names = feature_names;
        io.min_value = -1e6;
        io.max_value = 1e6;
    }
    io.n_classes = 3;
    io.class_names = class_names;
    struct proto_limits lim = {.max_instances = 64, .max_text_bytes = 256};
    json_t *root = json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return;
    struct proto_input in;
    memset(&in, 0, sizeof in);
    enc_err err = {0};
    int rc;
    if (which == 2) {
        rc = proto_v1_parse(root, &io, &lim, &in, &err);
    } else {
        struct proto_v2_req req;
        rc = proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &err);
        if (!rc)
            rc = proto_v2_parse_tensor(req.input, NULL, &io, &lim, &in, &err);
    }
    if (!rc) {
        /* Whatever was accepted must be what io promised ops->predict. */
        if (in.batch.n == 0 || in.batch.n > lim.max_instances)
            abort();
        if (!text)
            for (size_t i = 0; i < in.batch.n * io.n_features; i++)
                if (!(in.batch.x[i] >= io.min_value && in.batch.x[i] <= io.max_value))
                    abort();
        if (text)
            for (size_t i = 0; i < in.batch.n; i++)
                if (in.batch.text_len[i] > lim.max_text_bytes)
                    abort();
        float prob[64 * 3];
        for (size_t i = 0; i < in.batch.n * 3; i++)
            prob[i] = 1.0f / 3;
        buf o;
        buf_init(&o);
        proto_v1_write(&o, "m", 1, &io, prob, in.batch.n);
        check_json(&o);
        buf_free(&o);
    } else if (err.msg[0] == '\0' && rc != ENC_ENOMEM) {
        abort(); /* every refusal says why */
    }
    proto_input_free(&in);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    int sel = data[0] % 5;
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char path[512];
    if (plen >= sizeof path)
        plen = sizeof path - 1;
    memcpy(path, data, plen);
    path[plen] = '\0';
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = (size_t)(data + size - body);

    struct http_req r;
    char allow[64];
    int status;
    memset(&r, 0, sizeof r);
    const struct route *rt =
        routes_match(sel & 1 ? "POST" : "GET", path, &r, &status, allow, sizeof allow);
    if (rt && r.n_params > 0 && strlen(r.params[0]) == 0)
        abort();
    for (int scope = 0; scope <= 2; scope++)
        (void)auth_check(srv.auth, scope, path);

    if (sel <= 1)
        run_handler(sel, body, blen);
    else
        run_proto(sel == 2 ? 2 : 3, sel == 4, body, blen);
    return 0;
}
