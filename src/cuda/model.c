/*
 * model.c
 *	  Device models: the weights that a finalized model's live nodes read,
 *	  and its input transform, uploaded once into one device allocation.
 */
#include <stdlib.h>

#include "cuda_internal.h"

/* Alignment of each weight in the device block (cuBLAS prefers 256 bytes). */
#define WEIGHT_ALIGN 256

/* Rounds bytes up to WEIGHT_ALIGN. */
static int64_t
aligned(int64_t bytes)
{
	return (bytes + WEIGHT_ALIGN - 1) / WEIGHT_ALIGN * WEIGHT_ALIGN;
}

/* Copies count floats to dst + *at in the device block; advances *at. */
static PiStatus
upload(PiCudaModel *dm, const float *src, int64_t count, int64_t *at, float **where,
	   PiError *err)
{
	*where = (float *) ((char *) dm->block + *at);
	*at += aligned(count * (int64_t) sizeof(float));
	return pi_gpu_check(cudaMemcpy(*where, src, count * sizeof(float), cudaMemcpyHostToDevice),
						 err, "copying weights to the device");
}

/* Uploads a finalized model's weights; NULL with err set on failure. */
PiCudaModel *
pi_cuda_model_upload(PiCudaContext *ctx, const PiModel *model, PiError *err)
{
	PiCudaModel *dm;
	bool	   *used;
	int64_t		bytes = 0,
				at = 0;
	int64_t		transform = model->input_transform_len;

	if (!model->finalized)
	{
		pi_fail(err, PI_ERR_INVALID, "model is not finalized");
		return NULL;
	}
	if (pi_model_cpu_only_node(model) >= 0)
	{
		const PiNode *n = &model->nodes[pi_model_cpu_only_node(model)];

		pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) has no device implementation",
				n->name, pi_op_name(n->op));
		return NULL;
	}
	if (pi_gpu_check(cudaSetDevice(ctx->device), err, "cudaSetDevice") != PI_OK)
		return NULL;
	used = pi_model_weights_in_use(model);
	dm = calloc(1, sizeof(PiCudaModel));
	if (used == NULL || dm == NULL ||
		(dm->weights = calloc(model->nvalues > 0 ? model->nvalues : 1, sizeof(float *))) == NULL)
	{
		free(used);
		free(dm);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	dm->ctx = ctx;
	dm->model = model;
	for (int i = 0; i < model->nvalues; i++)
		if (used[i])
			bytes += aligned(model->values[i].numel * (int64_t) sizeof(float));
	bytes += 2 * aligned(transform * (int64_t) sizeof(float));
	if (pi_gpu_check(cudaMalloc(&dm->block, bytes > 0 ? bytes : 1), err,
					  "cudaMalloc of the model's weights") != PI_OK)
		goto fail;
	dm->bytes = bytes;
	for (int i = 0; i < model->nvalues; i++)
		if (used[i] && upload(dm, model->values[i].data, model->values[i].numel, &at,
							  &dm->weights[i], err) != PI_OK)
			goto fail;
	if (transform > 0 &&
		(upload(dm, model->input_scale, transform, &at, &dm->input_scale, err) != PI_OK ||
		 upload(dm, model->input_shift, transform, &at, &dm->input_shift, err) != PI_OK))
		goto fail;
	free(used);
	return dm;

fail:
	free(used);
	pi_cuda_model_free(dm);
	return NULL;
}

/* Device bytes the model's weights take. */
int64_t
pi_cuda_model_bytes(const PiCudaModel *dm)
{
	return dm->bytes;
}

/* Frees a device model (its executors must be freed first); NULL is allowed. */
void
pi_cuda_model_free(PiCudaModel *dm)
{
	if (dm == NULL)
		return;
	if (dm->block != NULL)
	{
		cudaSetDevice(dm->ctx->device);
		cudaFree(dm->block);
	}
	free(dm->weights);
	free(dm);
}
