/* s3.c - S3-compatible object storage over libcurl with SigV4 (see s3.h).
 *
 * S3 answers in XML. Only a handful of flat tags are read (Key, ETag, Size,
 * IsTruncated, NextContinuationToken, Code, Message, and STS's credential
 * fields), so a small tag scanner does it instead of pulling in libxml2.
 */
#define _GNU_SOURCE
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STS_RENEW_SECONDS 300

struct s3 {
    CURL *curl;
    char *bucket, *prefix;
    char *endpoint; /* scheme://host[:port], no trailing '/' */
    int path_style;
    int gcs;
    char region[64];
    /* credentials */
    enum { CRED_NONE, CRED_STATIC, CRED_WEB_IDENTITY, CRED_GCE } cred;
    char key_id[256], secret[256], token[4096];
    int64_t expires; /* unix seconds; 0 = never */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int s3_parse_url(const char *url, char **bucket, char **prefix, enc_err *err)
{
    *bucket = *prefix = NULL;
    if (strncmp(url, "s3://", 5) != 0 && strncmp(url, "gs://", 5) != 0)
        return enc_errf(err, ENC_EINVAL, "%s: not an s3:// or gs:// URL", url);
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    if (bl < 3 || bl > 63)
        return enc_errf(err, ENC_EINVAL, "%s: bucket name must be 3..63 characters", url);
    for (size_t i = 0; i < bl; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
              b[i] == '.' || b[i] == '_'))
            return enc_errf(err, ENC_EINVAL, "%s: bucket name has '%c' (a-z 0-9 . - _ only)", url,
                            b[i]);
    const char *p = slash ? slash + 1 : "";
    while (*p == '/')
        p++;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    *bucket = strndup(b, bl);
    *prefix = strndup(p, pl);
    if (!*bucket || !*prefix) {
        free(*bucket);
        free(*prefix);
        *bucket = *prefix = NULL;
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- small helpers ------------------------------------------------------ */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha256_file(const char *path, char out[65], int64_t *size, enc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return enc_errf(err, ENC_ENOTFOUND, "%s: %s", path, strerror(errno));
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
        fclose(f);
        return enc_errf(err, ENC_EINTERNAL, "gnutls_hash_init failed");
    }
    char buf[1 << 16];
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        gnutls_hash(h, buf, n);
        *size += (int64_t)n;
    }
    int bad = ferror(f);
    fclose(f);
    unsigned char d[32];
    gnutls_hash_deinit(h, d);
    if (bad)
        return enc_errf(err, ENC_EIO, "%s: read error", path);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    return 0;
}

/* RFC 3986 percent-encoding; '/' kept when keep_slash (object keys). */
static void uri_encode(const char *s, int keep_slash, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/'))
            out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

const char *s3_xml_tag(const char *xml, const char *tag, char *out, size_t len)
{
    char open[80], close[80];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return NULL;
    size_t o = 0;
    for (const char *p = a; p < b && o + 1 < len; p++) {
        static const struct {
            const char *e;
            char c;
        } ents[] = {{"&amp;", '&'},   {"&lt;", '<'},  {"&gt;", '>'},  {"&quot;", '"'},
                    {"&apos;", '\''}, {"&#34;", '"'}, {"&#39;", '\''}};
        int done = 0;
        if (*p == '&')
            for (size_t k = 0; k < sizeof ents / sizeof *ents && !done; k++)
                if (!strncmp(p, ents[k].e, strlen(ents[k].e))) {
                    out[o++] = ents[k].c;
                    p += strlen(ents[k].e) - 1;
                    done = 1;
                }
        if (!done)
            out[o++] = *p;
    }
    out[o] = '\0';
    return b + strlen(close);
}

static void strip_quotes(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
}

/* ---- responses ------------------------------------------------------------ */

struct sink {
    FILE *f;   /* a file, or */
    char *mem; /* memory */
    size_t len, cap, max;
    int overflow;
    char etag[80];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *k = arg;
    size_t b = sz * n;
    if (k->f)
        return fwrite(p, 1, b, k->f);
    if (k->len + b + 1 > k->max) {
        k->overflow = 1;
        return 0;
    }
    if (k->len + b + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + b + 1)
            cap *= 2;
        char *m = realloc(k->mem, cap);
        if (!m)
            return 0;
        k->mem = m;
        k->cap = cap;
    }
    memcpy(k->mem + k->len, p, b);
    k->len += b;
    k->mem[k->len] = '\0';
    return b;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *k = arg;
    size_t b = sz * n;
    if (b > 5 && !strncasecmp(p, "etag:", 5)) {
        const char *v = p + 5;
        while (*v == ' ')
            v++;
        size_t l = (size_t)(p + b - v);
        while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
            l--;
        snprintf(k->etag, sizeof k->etag, "%.*s", (int)l, v);
        strip_quotes(k->etag);
    }
    return b;
}

/* ---- credentials ------------------------------------------------------------ */

int s3_parse_sts(const char *xml, char *key_id, size_t kl, char *secret, size_t sl, char *token,
                 size_t tl, int64_t *expires, enc_err *err)
{
    char exp[64] = "";
    if (!s3_xml_tag(xml, "AccessKeyId", key_id, kl) ||
        !s3_xml_tag(xml, "SecretAccessKey", secret, sl) ||
        !s3_xml_tag(xml, "SessionToken", token, tl)) {
        char code[128] = "", msg[512] = "";
        s3_xml_tag(xml, "Code", code, sizeof code);
        s3_xml_tag(xml, "Message", msg, sizeof msg);
        return enc_errf(err, ENC_EFORBIDDEN, "STS AssumeRoleWithWebIdentity: %s%s%s",
                        *code ? code : "no credentials in the answer", *msg ? ": " : "", msg);
    }
    *expires = 0;
    if (s3_xml_tag(xml, "Expiration", exp, sizeof exp)) { /* 2026-01-01T00:00:00Z */
        struct tm tm = {0};
        if (strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm))
            *expires = (int64_t)timegm(&tm);
    }
    return 0;
}

static int http_simple(CURL *c, const char *url, struct curl_slist *hdrs, struct sink *k,
                       long *status, enc_err *err);

/* EKS IRSA: trade the projected service-account token for temporary keys. */
static int assume_role(struct s3 *s, enc_err *err)
{
    const char *role = env("AWS_ROLE_ARN"), *file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    FILE *f = fopen(file, "r");
    if (!f)
        return enc_errf(err, ENC_EFORBIDDEN, "AWS_WEB_IDENTITY_TOKEN_FILE %s: %s", file,
                        strerror(errno));
    char tok[8192];
    size_t n = fread(tok, 1, sizeof tok - 1, f);
    fclose(f);
    tok[n] = '\0';
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    const char *sess = env("AWS_ROLE_SESSION_NAME");
    char *e_role = malloc(3 * strlen(role) + 1), *e_tok = malloc(3 * n + 1), e_sess[256];
    if (!e_role || !e_tok) {
        free(e_role);
        free(e_tok);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    uri_encode(role, 0, e_role, 3 * strlen(role) + 1);
    uri_encode(tok, 0, e_tok, 3 * n + 1);
    uri_encode(sess ? sess : "encore", 0, e_sess, sizeof e_sess);
    const char *ep = env("AWS_ENDPOINT_URL_STS");
    char host[256];
    if (!ep) {
        snprintf(host, sizeof host, "https://sts.%s.amazonaws.com", s->region);
        ep = host;
    }
    size_t ul = strlen(ep) + strlen(e_role) + strlen(e_tok) + 512;
    char *url = malloc(ul);
    if (!url) {
        free(e_role);
        free(e_tok);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    snprintf(url, ul,
             "%s/?Action=AssumeRoleWithWebIdentity&DurationSeconds=3600&RoleArn=%s"
             "&RoleSessionName=%s&Version=2011-06-15&WebIdentityToken=%s",
             ep, e_role, e_sess, e_tok);
    free(e_role);
    free(e_tok);
    CURL *c = curl_easy_init();
    struct sink k = {.max = 1 << 20};
    long status = 0;
    int rc = c ? http_simple(c, url, NULL, &k, &status, err)
               : enc_errf(err, ENC_ENOMEM, "curl_easy_init failed");
    free(url);
    if (c)
        curl_easy_cleanup(c);
    if (rc == 0)
        rc = s3_parse_sts(k.mem ? k.mem : "", s->key_id, sizeof s->key_id, s->secret,
                          sizeof s->secret, s->token, sizeof s->token, &s->expires, err);
    free(k.mem);
    return rc;
}

/* GKE Workload Identity: an access token from the metadata server. */
static int gce_token(struct s3 *s, enc_err *err)
{
    const char *host = env("GCE_METADATA_HOST");
    char url[512];
    snprintf(url, sizeof url,
             "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
             host ? host : "metadata.google.internal");
    CURL *c = curl_easy_init();
    if (!c)
        return enc_errf(err, ENC_ENOMEM, "curl_easy_init failed");
    struct curl_slist *h = curl_slist_append(NULL, "Metadata-Flavor: Google");
    struct sink k = {.max = 1 << 16};
    long status = 0;
    int rc = http_simple(c, url, h, &k, &status, err);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc == 0) {
        json_t *j = json_loads(k.mem ? k.mem : "", 0, NULL);
        const char *t = json_string_value(json_object_get(j, "access_token"));
        if (!t || strlen(t) >= sizeof s->token)
            rc = enc_errf(err, ENC_EFORBIDDEN, "GCE metadata server: no access_token");
        else {
            snprintf(s->token, sizeof s->token, "%s", t);
            s->expires =
                (int64_t)time(NULL) + (int64_t)json_integer_value(json_object_get(j, "expires_in"));
        }
        json_decref(j);
    }
    free(k.mem);
    return rc;
}

static int refresh_credentials(struct s3 *s, enc_err *err)
{
    if (s->cred != CRED_WEB_IDENTITY && s->cred != CRED_GCE)
        return 0;
    if (s->expires && (int64_t)time(NULL) < s->expires - STS_RENEW_SECONDS)
        return 0;
    return s->cred == CRED_GCE ? gce_token(s, err) : assume_role(s, err);
}

/* ---- open / close ------------------------------------------------------------ */

int s3_open(const char *url, const char *endpoint, struct s3 **out, enc_err *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    struct s3 *s = calloc(1, sizeof *s);
    if (!s)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = s3_parse_url(url, &s->bucket, &s->prefix, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->gcs = !strncmp(url, "gs://", 5);
    const char *region = env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    snprintf(s->region, sizeof s->region, "%s", region ? region : s->gcs ? "auto" : "us-east-1");
    const char *ep = endpoint && *endpoint ? endpoint : env("AWS_ENDPOINT_URL_S3");
    if (!ep)
        ep = env("AWS_ENDPOINT_URL");
    char dflt[256];
    s->path_style = ep != NULL;
    if (!ep) {
        if (s->gcs)
            snprintf(dflt, sizeof dflt, "https://storage.googleapis.com");
        else
            snprintf(dflt, sizeof dflt, "https://s3.%s.amazonaws.com", s->region);
        ep = dflt;
    }
    const char *addr = env("ENCORE_S3_ADDRESSING");
    if (addr)
        s->path_style = strcmp(addr, "virtual") != 0;
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) {
        s3_close(s);
        return enc_errf(err, ENC_EINVAL, "S3 endpoint '%s' must start with http:// or https://",
                        ep);
    }
    s->endpoint = strdup(ep);
    if (s->endpoint) {
        size_t n = strlen(s->endpoint);
        while (n > 0 && s->endpoint[n - 1] == '/')
            s->endpoint[--n] = '\0';
    }
    s->curl = curl_easy_init();
    if (!s->endpoint || !s->curl) {
        s3_close(s);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    const char *id = env("AWS_ACCESS_KEY_ID"), *sec = env("AWS_SECRET_ACCESS_KEY");
    if (id && sec) {
        s->cred = CRED_STATIC;
        snprintf(s->key_id, sizeof s->key_id, "%s", id);
        snprintf(s->secret, sizeof s->secret, "%s", sec);
        const char *t = env("AWS_SESSION_TOKEN");
        snprintf(s->token, sizeof s->token, "%s", t ? t : "");
    } else if (env("AWS_ROLE_ARN") && env("AWS_WEB_IDENTITY_TOKEN_FILE"))
        s->cred = CRED_WEB_IDENTITY; /* fetched on the first request */
    else if (s->gcs && !env("ENCORE_S3_ANONYMOUS"))
        s->cred = CRED_GCE;
    else
        s->cred = CRED_NONE;
    *out = s;
    return 0;
}

void s3_close(struct s3 *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->bucket);
    free(s->prefix);
    free(s->endpoint);
    memset(s->secret, 0, sizeof s->secret);
    free(s);
}

const char *s3_bucket(const struct s3 *s)
{
    return s->bucket;
}

const char *s3_prefix(const struct s3 *s)
{
    return s->prefix;
}

/* ---- requests ------------------------------------------------------------------ */

static int http_simple(CURL *c, const char *url, struct curl_slist *hdrs, struct sink *k,
                       long *status, enc_err *err)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        return enc_errf(err, ENC_EIO, "%s: %s", url, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (*status != 200)
        return enc_errf(err, ENC_EFORBIDDEN, "%s: HTTP %ld: %.300s", url, *status,
                        k->mem ? k->mem : "");
    return 0;
}

/* One signed request. body: a file (upload) or memory; the answer goes to
 * `k` (a file or memory). Returns 0 on 2xx, else a code with S3's error. */
static int request(struct s3 *s, const char *method, const char *key, const char *query,
                   const char *body_path, const void *body, size_t body_len, struct sink *k,
                   long *status_out, enc_err *err)
{
    int rc = refresh_credentials(s, err);
    if (rc)
        return rc;
    char ekey[2048], url[4096], hdr[4200];
    uri_encode(key ? key : "", 1, ekey, sizeof ekey);
    const char *scheme_end = strstr(s->endpoint, "://") + 3;
    if (s->path_style)
        snprintf(url, sizeof url, "%s/%s%s%s%s%s", s->endpoint, s->bucket, *ekey ? "/" : "", ekey,
                 query ? "?" : "", query ? query : "");
    else
        snprintf(url, sizeof url, "%.*s%s.%s/%s%s%s", (int)(scheme_end - s->endpoint), s->endpoint,
                 s->bucket, scheme_end, ekey, query ? "?" : "", query ? query : "");
    char hash[65];
    int64_t size = (int64_t)body_len;
    FILE *up = NULL;
    if (body_path) {
        if ((rc = sha256_file(body_path, hash, &size, err)) != 0)
            return rc;
        if (!(up = fopen(body_path, "rb")))
            return enc_errf(err, ENC_EIO, "%s: %s", body_path, strerror(errno));
    } else
        sha256_hex(body ? body : "", body_len, hash);
    CURL *c = s->curl;
    curl_easy_reset(c);
    struct curl_slist *h = NULL;
    char sigv4[128];
    if (s->cred == CRED_GCE) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", s->token);
        h = curl_slist_append(h, hdr);
    } else if (s->cred != CRED_NONE) {
        snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", s->region);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->key_id);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret);
        snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", hash);
        h = curl_slist_append(h, hdr);
        if (*s->token) {
            snprintf(hdr, sizeof hdr, "x-amz-security-token: %s", s->token);
            h = curl_slist_append(h, hdr);
        }
    }
    /* (No "Expect:" to skip 100-continue: libcurl 7.88 would sign the empty
     * header it then leaves out, and every PUT's signature would be wrong.) */
    if (up || body)
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* < 1 KB/s for 30 s: give up */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!strcmp(method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
        if (up)
            curl_easy_setopt(c, CURLOPT_READDATA, up);
        else {
            FILE *m = fmemopen((void *)(body ? body : ""), body_len ? body_len : 1, "rb");
            up = m;
            curl_easy_setopt(c, CURLOPT_READDATA, up);
        }
    } else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (up)
        fclose(up);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status_out)
        *status_out = status;
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status >= 300))
        return enc_errf(err, ENC_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
    if (status >= 200 && status < 300)
        return 0;
    char code[128] = "", msg[512] = "";
    if (k->mem) {
        s3_xml_tag(k->mem, "Code", code, sizeof code);
        s3_xml_tag(k->mem, "Message", msg, sizeof msg);
    }
    int ec = status == 404                    ? ENC_ENOTFOUND
             : status == 403 || status == 401 ? ENC_EFORBIDDEN
                                              : ENC_EIO;
    if (!strcmp(code, "NoSuchBucket"))
        return enc_errf(err, ENC_ENOTFOUND,
                        "bucket '%s' does not exist (%s %s: HTTP 404 NoSuchBucket)", s->bucket,
                        method, url);
    return enc_errf(err, ec, "%s %s: HTTP %ld%s%s%s%s", method, url, status, *code ? " " : "", code,
                    *msg ? ": " : "", msg);
}

int s3_list(struct s3 *s, const char *prefix, struct s3_object **objs, size_t *n, enc_err *err)
{
    *objs = NULL;
    *n = 0;
    size_t cap = 0;
    char token[2048] = "";
    int rc = 0;
    for (int page = 0; page < 100000; page++) {
        char eprefix[2048], etok[6200], query[8400];
        uri_encode(prefix, 0, eprefix, sizeof eprefix);
        uri_encode(token, 0, etok, sizeof etok);
        /* Sorted by name, as SigV4's canonical query wants. */
        if (*token)
            snprintf(query, sizeof query, "continuation-token=%s&list-type=2&prefix=%s", etok,
                     eprefix);
        else
            snprintf(query, sizeof query, "list-type=2&prefix=%s", eprefix);
        struct sink k = {.max = 64 << 20};
        rc = request(s, "GET", "", query, NULL, NULL, 0, &k, NULL, err);
        if (rc) {
            free(k.mem);
            break;
        }
        const char *p = k.mem ? k.mem : "";
        const char *c;
        while ((c = strstr(p, "<Contents>")) != NULL) {
            const char *end = strstr(c, "</Contents>");
            if (!end)
                break;
            char keyb[2048] = "", etag[80] = "", size[32] = "0";
            size_t blen = (size_t)(end - c);
            char *block = strndup(c, blen);
            if (!block) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            s3_xml_tag(block, "Key", keyb, sizeof keyb);
            s3_xml_tag(block, "ETag", etag, sizeof etag);
            s3_xml_tag(block, "Size", size, sizeof size);
            free(block);
            strip_quotes(etag);
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                struct s3_object *no = realloc(*objs, cap * sizeof *no);
                if (!no) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    break;
                }
                *objs = no;
            }
            struct s3_object *o = &(*objs)[*n];
            if (!(o->key = strdup(keyb))) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            snprintf(o->etag, sizeof o->etag, "%s", etag);
            o->size = strtoll(size, NULL, 10);
            (*n)++;
            p = end + 11;
        }
        char trunc[16] = "";
        s3_xml_tag(k.mem ? k.mem : "", "IsTruncated", trunc, sizeof trunc);
        int more = !strcmp(trunc, "true") &&
                   s3_xml_tag(k.mem, "NextContinuationToken", token, sizeof token);
        free(k.mem);
        if (rc || !more)
            break;
    }
    if (rc) {
        s3_objects_free(*objs, *n);
        *objs = NULL;
        *n = 0;
    }
    return rc;
}

void s3_objects_free(struct s3_object *objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(objs[i].key);
    free(objs);
}

int s3_get_file(struct s3 *s, const char *key, const char *path, char *etag, enc_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return enc_errf(err, ENC_EIO, "%s: %s", path, strerror(errno));
    struct sink k = {.f = f};
    long status = 0;
    int rc = request(s, "GET", key, NULL, NULL, NULL, 0, &k, &status, err);
    if (fclose(f) != 0 && rc == 0)
        rc = enc_errf(err, ENC_EIO, "%s: %s", path, strerror(errno));
    if (rc && status >= 300) { /* the error body went into the file: read it back */
        char buf[2048];
        FILE *r = fopen(path, "rb");
        size_t n = r ? fread(buf, 1, sizeof buf - 1, r) : 0;
        if (r)
            fclose(r);
        buf[n] = '\0';
        char code[128] = "", msg[512] = "";
        s3_xml_tag(buf, "Code", code, sizeof code);
        s3_xml_tag(buf, "Message", msg, sizeof msg);
        if (*code)
            enc_errf(err, rc, "GET s3://%s/%s: HTTP %ld %s: %s", s->bucket, key, status, code, msg);
    }
    if (etag)
        snprintf(etag, 80, "%s", k.etag);
    return rc;
}

int s3_get_mem(struct s3 *s, const char *key, size_t max, char **data, size_t *len, enc_err *err)
{
    struct sink k = {.max = max + 1};
    int rc = request(s, "GET", key, NULL, NULL, NULL, 0, &k, NULL, err);
    if (rc == 0 && k.overflow)
        rc = enc_errf(err, ENC_ETOOLARGE, "s3://%s/%s: larger than %zu bytes", s->bucket, key, max);
    if (rc) {
        free(k.mem);
        return rc;
    }
    if (!k.mem && !(k.mem = calloc(1, 1)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    *data = k.mem;
    *len = k.len;
    return 0;
}

int s3_put_file(struct s3 *s, const char *key, const char *path, enc_err *err)
{
    struct sink k = {.max = 1 << 20};
    int rc = request(s, "PUT", key, NULL, path, NULL, 0, &k, NULL, err);
    free(k.mem);
    return rc;
}

int s3_put_mem(struct s3 *s, const char *key, const void *data, size_t len, enc_err *err)
{
    struct sink k = {.max = 1 << 20};
    int rc = request(s, "PUT", key, NULL, NULL, data ? data : "", len, &k, NULL, err);
    free(k.mem);
    return rc;
}

int s3_delete(struct s3 *s, const char *key, enc_err *err)
{
    struct sink k = {.max = 1 << 20};
    int rc = request(s, "DELETE", key, NULL, NULL, NULL, 0, &k, NULL, err);
    free(k.mem);
    return rc == ENC_ENOTFOUND ? 0 : rc;
}
