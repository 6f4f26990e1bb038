/*
 * catalog_internal.h
 *	  What the catalog's files share (src/catalog/catalog.c, ownership.c):
 *	  queries inside a catalog session, and who may change a model.
 */
#ifndef CATALOG_INTERNAL_H
#define CATALOG_INTERNAL_H

#include "pg_infer.h"

/* catalog.c */
extern Oid	catalog_owner_role(void);
extern int	catalog_query(const char *sql, int nargs, Oid *types, Datum *values, bool read_only);
extern int64 catalog_result_int(int col, bool *isnull);

/* ownership.c */
extern char *catalog_caller_name(const CatalogSession *session);
extern void catalog_require_manager(const CatalogSession *session, int32 model_id, const char *name);
extern void catalog_record_event(const CatalogSession *session, int32 model_id, const char *name,
								 int32 version, const char *action, const char *detail);

#endif							/* CATALOG_INTERNAL_H */
