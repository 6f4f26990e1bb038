/*
 * models.c
 *	  The executor's table of loaded models, by the handle the worker chose
 *	  for each, and their release in order: activation buffers, device
 *	  model, model, image.
 */
#include <stdlib.h>

#include "executor.h"

/* The model loaded under handle, or NULL. */
LoadedModel *
models_find(const ModelTable *table, uint64_t handle)
{
	for (int i = 0; i < table->count; i++)
		if (table->models[i]->handle == handle)
			return table->models[i];
	return NULL;
}

/* A new, empty entry for handle; NULL when out of memory. */
LoadedModel *
models_add(ModelTable *table, uint64_t handle)
{
	LoadedModel *lm;

	if (table->count == table->capacity)
	{
		int			capacity = table->capacity > 0 ? table->capacity * 2 : 8;
		LoadedModel **grown = realloc(table->models, sizeof(LoadedModel *) * capacity);

		if (grown == NULL)
			return NULL;
		table->models = grown;
		table->capacity = capacity;
	}
	lm = calloc(1, sizeof(LoadedModel));
	if (lm == NULL)
		return NULL;
	lm->handle = handle;
	table->models[table->count++] = lm;
	return lm;
}

/* Frees lm and everything it holds, and drops it from the table. */
void
models_remove(ExecState *st, LoadedModel *lm)
{
	ModelTable *table = &st->table;

	for (int i = 0; i < table->count; i++)
		if (table->models[i] == lm)
		{
			table->models[i] = table->models[--table->count];
			break;
		}
	if (lm->base != NULL)
		lm->base->dependents--;
	activations_free(st, lm);
	device_release(&st->device, lm);
	pi_model_free(lm->model);
	free(lm->image);
	free(lm);
}

/* Frees every loaded model (those loaded over others first) and the table itself. */
void
models_free_all(ExecState *st)
{
	ModelTable *table = &st->table;

	for (int i = table->count - 1; i >= 0; i--)
		if (table->models[i]->base != NULL)
			models_remove(st, table->models[i]);
	while (table->count > 0)
		models_remove(st, table->models[table->count - 1]);
	free(table->models);
	table->models = NULL;
	table->capacity = 0;
}
