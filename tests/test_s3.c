/*
 * test_s3.c - storage/s3.c's pure parts: URLs, the XML tag scanner, STS
 * answers. (Requests are tested against a real S3-compatible server in
 * tests/e2e_objstore.sh.)
 */
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "testutil.h"

START_TEST(urls)
{
    char *b, *p;
    enc_err err = {0};
    ck_assert_int_eq(s3_parse_url("s3://models/prod/recs/", &b, &p, &err), 0);
    ck_assert_str_eq(b, "models");
    ck_assert_str_eq(p, "prod/recs");
    free(b);
    free(p);
    ck_assert_int_eq(s3_parse_url("gs://my-bucket", &b, &p, &err), 0);
    ck_assert_str_eq(p, "");
    free(b);
    free(p);
    ck_assert_int_eq(s3_parse_url("http://x/y", &b, &p, &err), ENC_EINVAL);
    ck_assert_int_eq(s3_parse_url("s3://ab/x", &b, &p, &err), ENC_EINVAL); /* too short */
    ck_assert_int_eq(s3_parse_url("s3://Bad_Bucket!/x", &b, &p, &err), ENC_EINVAL);
}
END_TEST

START_TEST(xml_tags_and_sts)
{
    char out[64];
    const char *x = "<a><ETag>&quot;abc&quot;</ETag><Key>x &amp; y</Key></a>";
    ck_assert_ptr_nonnull(s3_xml_tag(x, "ETag", out, sizeof out));
    ck_assert_str_eq(out, "\"abc\"");
    ck_assert_ptr_nonnull(s3_xml_tag(x, "Key", out, sizeof out));
    ck_assert_str_eq(out, "x & y");
    ck_assert_ptr_null(s3_xml_tag(x, "Size", out, sizeof out));
    ck_assert_ptr_null(s3_xml_tag("<Key>unterminated", "Key", out, sizeof out));
    const char *sts =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sec/ret</SecretAccessKey>"
        "<SessionToken>tok+en==</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"
        "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    char id[32], secret[32], token[32];
    int64_t exp = 0;
    enc_err err = {0};
    ck_assert_int_eq(
        s3_parse_sts(sts, id, sizeof id, secret, sizeof secret, token, sizeof token, &exp, &err),
        0);
    ck_assert_str_eq(id, "ASIAX");
    ck_assert_str_eq(secret, "sec/ret");
    ck_assert_str_eq(token, "tok+en==");
    ck_assert_int_eq(exp, 1893553445);
    const char *denied = "<ErrorResponse><Error><Code>AccessDenied</Code>"
                         "<Message>Not authorized</Message></Error></ErrorResponse>";
    ck_assert_int_eq(
        s3_parse_sts(denied, id, sizeof id, secret, sizeof secret, token, sizeof token, &exp, &err),
        ENC_EFORBIDDEN);
    ck_assert_msg(strstr(err.msg, "AccessDenied: Not authorized") != NULL, "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("s3");
    TCase *tc = tcase_create("s3");
    tcase_add_test(tc, urls);
    tcase_add_test(tc, xml_tags_and_sts);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
