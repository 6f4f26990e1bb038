/*
 * drop_hook.c
 *	  An object_access_hook that takes the images of a dropped database, or
 *	  of a dropped pginfer.model catalog (DROP EXTENSION), out of the shared
 *	  model cache, and so out of the inference worker, instead of leaving
 *	  them there until least-recently-used eviction.
 *
 * The hook runs before the drop is final.  If the drop then fails or rolls
 * back, the models are simply loaded again when next used, as after an
 * eviction; images still pinned by a running transaction are freed when it
 * ends.  The hook keeps no state: shared_cache_forget does the locking.
 */
#include "pg_infer.h"

#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"

static object_access_hook_type prev_object_access_hook = NULL;

/* Forgets every image of database dbid, or only those of its catalog when given. */
static void
forget_images(Oid dbid, Oid catalog)
{
	SharedCacheKey key;

	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.catalog = catalog;
	key.model_id = -1;
	key.version = -1;
	(void) shared_cache_forget(&key, false);
}

/* object_access_hook: a dropped database or model catalog leaves the shared cache. */
static void
drop_hook(ObjectAccessType access, Oid classId, Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access != OAT_DROP || subId != 0 || !shared_cache_enabled())
		return;
	if (classId == DatabaseRelationId)
		forget_images(objectId, InvalidOid);
	else if (classId == RelationRelationId && objectId == catalog_relid_if_exists("model"))
		forget_images(MyDatabaseId, objectId);	/* pginfer.model, the catalog keys name */
}

/* Installs the hook; called from _PG_init. */
void
drop_hook_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = drop_hook;
}
