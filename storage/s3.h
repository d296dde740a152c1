/*
 * s3.h - a small client for S3-compatible object storage (AWS S3, GCS's XML
 * API, MinIO, ...): list, get, put, delete, nothing else.
 *
 * Requests are signed with libcurl's AWS Signature Version 4
 * (CURLOPT_AWS_SIGV4, libcurl >= 7.75; Debian 12 ships 7.88). The payload
 * hash is computed here and sent as x-amz-content-sha256, which S3 requires
 * and which libcurl 7.88 signs when it is present; query strings are
 * percent-encoded and sorted here because 7.88 signs them as written.
 *
 * Where things come from (the AWS SDKs' own variables, so a pod spec written
 * for the AWS CLI works unchanged):
 *   URL        s3://BUCKET/PREFIX or gs://BUCKET/PREFIX
 *   endpoint   the `endpoint` argument, else AWS_ENDPOINT_URL_S3, else
 *              AWS_ENDPOINT_URL, else https://s3.REGION.amazonaws.com
 *              (gs://: https://storage.googleapis.com)
 *   addressing path-style (ENDPOINT/BUCKET/KEY) with an endpoint given
 *              (MinIO, s3rver, ...), virtual-hosted (BUCKET.ENDPOINT/KEY)
 *              on AWS's own; ENCORE_S3_ADDRESSING=path|virtual overrides
 *   region     AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
 *              (gs://: auto)
 *   credentials, first that applies:
 *     1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *        for gs://, GCS HMAC keys
 *     2. AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (EKS IRSA): STS
 *        AssumeRoleWithWebIdentity (AWS_ENDPOINT_URL_STS, else
 *        https://sts.REGION.amazonaws.com), renewed 5 minutes before expiry
 *     3. gs:// only: an OAuth2 token from the GKE metadata server (Workload
 *        Identity), sent as a bearer token
 *     4. none: unsigned requests (public buckets)
 *
 * A handle is not thread-safe: one per thread (it owns a curl easy handle,
 * which keeps connections alive between requests).
 */
#ifndef ENCORE_S3_H
#define ENCORE_S3_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct s3;

struct s3_object {
    char *key;     /* full key */
    char etag[80]; /* without quotes */
    int64_t size;
};

/* Parse "s3://BUCKET/PREFIX" (or gs://): *bucket and *prefix are malloc'd;
 * the prefix has no leading or trailing '/' (may be ""). */
int s3_parse_url(const char *url, char **bucket, char **prefix, enc_err *err);

/* A client for the bucket of `url`; `endpoint` may be NULL or "". */
int s3_open(const char *url, const char *endpoint, struct s3 **out, enc_err *err);
void s3_close(struct s3 *s); /* NULL ok */

/* The bucket and the URL's prefix (borrowed, valid until s3_close). */
const char *s3_bucket(const struct s3 *s);
const char *s3_prefix(const struct s3 *s);

/* Every object whose key starts with `prefix` (ListObjectsV2, all pages).
 * *objs is freed with s3_objects_free. A missing bucket is ENC_ENOTFOUND,
 * refused credentials ENC_EFORBIDDEN (the message names S3's error code). */
int s3_list(struct s3 *s, const char *prefix, struct s3_object **objs, size_t *n, enc_err *err);
void s3_objects_free(struct s3_object *objs, size_t n);

/* GET key into the file `path` (created or truncated). etag (optional,
 * 80 bytes) receives the object's ETag. */
int s3_get_file(struct s3 *s, const char *key, const char *path, char *etag, enc_err *err);
/* GET key into memory (at most max bytes); *data malloc'd, NUL-terminated. */
int s3_get_mem(struct s3 *s, const char *key, size_t max, char **data, size_t *len, enc_err *err);

/* PUT the file `path` / `len` bytes at `data` as key. */
int s3_put_file(struct s3 *s, const char *key, const char *path, enc_err *err);
int s3_put_mem(struct s3 *s, const char *key, const void *data, size_t len, enc_err *err);

/* DELETE key (a missing key is not an error). */
int s3_delete(struct s3 *s, const char *key, enc_err *err);

/* Exposed for tests: the first <tag>text</tag> in xml from `from`, entity-
 * decoded into out (len bytes). Returns a pointer past the closing tag, or
 * NULL when absent. */
const char *s3_xml_tag(const char *xml, const char *tag, char *out, size_t len);

/* Exposed for tests: parse an STS AssumeRoleWithWebIdentity response. */
int s3_parse_sts(const char *xml, char *key_id, size_t kl, char *secret, size_t sl, char *token,
                 size_t tl, int64_t *expires, enc_err *err);

#endif
