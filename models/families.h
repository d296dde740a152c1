/*
 * families.h - the built-in model families, in one explicit table.
 *
 * core/model.c names no family: callers pass this table to model_load (in a
 * struct model_load_opts), which is what lets core build and link alone
 * (tests/test_core_link.c). The table is listed by hand, one row per family,
 * as redis and SQLite list their built-ins: constructor self-registration
 * would silently drop a family whose object file a static link leaves out.
 */
#ifndef ENCORE_FAMILIES_H
#define ENCORE_FAMILIES_H

#include "core/model.h"

/* NULL-terminated: mf, forest, linear, text, cnn. */
extern const struct model_ops *const model_families[];

/* Every built-in family, each option at its default (precision auto). */
extern const struct model_load_opts model_default_opts;

#endif
