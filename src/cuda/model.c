/*
 * model.c
 *	  Device models: the weights that a finalized model's live nodes read,
 *	  and its input transform, uploaded once into one device allocation.
 *	  A bf16 or fp16 model's Dense, Gemm and MatMul weights (those that
 *	  pi_model_weight_forms reduces) go up in 16 bits for cublasGemmEx; the
 *	  nodes that run in int8 (int8_plan.h) get their weights as int8 codes
 *	  with their scales, and a weight only they read goes up in no other
 *	  form.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "pi_engine.h"

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

/*
 * Which weights go up in 16 bits (malloc'd, nvalues entries; NULL when out
 * of memory): for a bf16 or fp16 model, the reduced ones (an fp16 one only
 * where every value fits in half); none for other precisions.
 */
static bool *
half_weights(const PiModel *model)
{
	bool	   *half = calloc(model->nvalues + 1, sizeof(bool));
	PiWeightForm *forms;

	if (half == NULL || (model->precision != PI_PRECISION_BF16 && model->precision != PI_PRECISION_FP16))
		return half;
	if ((forms = pi_model_weight_forms(model)) == NULL)
	{
		free(half);
		return NULL;
	}
	for (int i = 0; i < model->nvalues; i++)
	{
		half[i] = forms[i] != PI_WEIGHT_KEEP;
		for (int64_t e = 0; half[i] && model->precision == PI_PRECISION_FP16 && e < model->values[i].numel; e++)
			half[i] = !(isfinite(model->values[i].data[e]) &&
						(pi_fp16_bits(model->values[i].data[e]) & 0x7c00u) == 0x7c00u);
	}
	free(forms);
	return half;
}

/* Copies count floats, rounded to 16 bits for model's precision, to the device block at *at. */
static PiStatus
upload_half(PiCudaModel *dm, const float *src, int64_t count, int64_t *at, float **where,
			PiError *err)
{
	uint16_t   *bits = malloc(sizeof(uint16_t) * (count > 0 ? count : 1));
	PiStatus	st;

	if (bits == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t e = 0; e < count; e++)
		bits[e] = dm->half_type == CUDA_R_16BF ? pi_bf16_bits(src[e]) : pi_fp16_bits(src[e]);
	*where = (float *) ((char *) dm->block + *at);
	*at += aligned(count * (int64_t) sizeof(uint16_t));
	st = pi_gpu_check(cudaMemcpy(*where, bits, count * sizeof(uint16_t), cudaMemcpyHostToDevice),
					  err, "copying 16-bit weights to the device");
	free(bits);
	return st;
}

/* Per row: the widest activation that a GEMM by a 16-bit weight reads (0: none). */
static int64_t
half_act_elems(const PiModel *model, const bool *half)
{
	int64_t		widest = 0;

	for (int pos = 0; pos < model->norder; pos++)
	{
		const PiNode *n = &model->nodes[model->order[pos]];

		if (n->ninputs >= 2 && half[n->inputs[1]] && pi_value_row_elems(&model->values[n->inputs[0]]) > widest)
			widest = pi_value_row_elems(&model->values[n->inputs[0]]);
	}
	return widest;
}

/*
 * Points dm's weights that its model shares with base's (the same host
 * data, kept in the same width) at base's device copies; returns their
 * flags (malloc'd, nvalues entries), NULL when out of memory.
 */
static bool *
share_device_weights(PiCudaModel *dm, const PiCudaModel *base, const bool *used)
{
	const PiModel *model = dm->model;
	bool	   *shared = calloc(model->nvalues + 1, sizeof(bool));

	if (shared == NULL || base == NULL || model->weights_base != base->model)
		return shared;
	for (int i = 0; i < model->nvalues; i++)
	{
		int			j = pi_model_find_value(base->model, model->values[i].name);

		shared[i] = used[i] && j >= 0 && base->weights[j] != NULL &&
			base->model->values[j].data == model->values[i].data &&
			base->half_weights[j] == dm->half_weights[i];
		if (shared[i])
			dm->weights[i] = base->weights[j];
	}
	return shared;
}

/*
 * Whether int8 node n of model computes what node bn of base's model does
 * with the same host weights (a length variant's node over its version's).
 */
static bool
same_int8_node(const PiModel *model, const PiNode *n, const PiModel *bm, const PiNode *bn)
{
	if (strcmp(n->name, bn->name) != 0 || n->op != bn->op || n->ninputs != bn->ninputs ||
		n->attrs.alpha != bn->attrs.alpha || n->attrs.beta != bn->attrs.beta ||
		n->attrs.trans_b != bn->attrs.trans_b || n->attrs.dynamic_int8 != bn->attrs.dynamic_int8)
		return false;
	for (int i = 1; i < n->ninputs; i++)
		if (model->values[n->inputs[i]].data != bm->values[bn->inputs[i]].data)
			return false;
	return true;
}

/*
 * Plans the int8 nodes of dm's model: their geometry, the scratch a batch
 * row needs, and their weight blocks, read from base's where base has the
 * same node (base NULL: none); adds the bytes of those to upload to *bytes.
 */
static bool
plan_int8_nodes(PiCudaModel *dm, const PiCudaModel *base, int64_t *bytes)
{
	const PiModel *model = dm->model;

	dm->int8_shapes = calloc(model->nnodes + 1, sizeof(PiGpuInt8Shape));
	dm->int8_weights = calloc(model->nnodes + 1, sizeof(void *));
	if (dm->int8_shapes == NULL || dm->int8_weights == NULL)
		return false;
	for (int pos = 0; pos < model->norder; pos++)
	{
		int			i = model->order[pos];
		const PiNode *n = &model->nodes[i];
		PiGpuInt8Shape *s = &dm->int8_shapes[i];
		int64_t		item;

		*s = pi_gpu_int8_shape(model, n);
		if (s->rows == PI_GPU_INT8_NONE)
			continue;
		item = pi_gpu_int8_rows_per_item(model, n, s) * pi_gpu_int8_row_bytes(s);
		if (item > dm->int8_item_bytes)
			dm->int8_item_bytes = item;
		for (int j = 0; base != NULL && model->weights_base == base->model && j < base->model->nnodes; j++)
			if (base->int8_weights[j] != NULL && base->int8_shapes[j].rows == s->rows &&
				base->int8_shapes[j].kdim == s->kdim && base->int8_shapes[j].mdim == s->mdim &&
				same_int8_node(model, n, base->model, &base->model->nodes[j]))
			{
				dm->int8_weights[i] = base->int8_weights[j];
				break;
			}
		if (dm->int8_weights[i] == NULL)
			*bytes += aligned(pi_gpu_int8_weight_bytes(s));
	}
	return true;
}

/* Uploads the weight blocks of the int8 nodes not read from a base model's. */
static PiStatus
upload_int8_nodes(PiCudaModel *dm, int64_t *at, PiError *err)
{
	const PiModel *model = dm->model;

	for (int pos = 0; pos < model->norder; pos++)
	{
		int			i = model->order[pos];
		const PiGpuInt8Shape *s = &dm->int8_shapes[i];
		int64_t		len = pi_gpu_int8_weight_bytes(s);
		void	   *host;
		PiStatus	st;

		if (s->rows == PI_GPU_INT8_NONE || dm->int8_weights[i] != NULL)
			continue;
		if ((host = malloc(len)) == NULL || !pi_gpu_int8_fill_weights(model, &model->nodes[i], s, host))
		{
			free(host);
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		}
		dm->int8_weights[i] = (char *) dm->block + *at;
		*at += aligned(len);
		st = pi_gpu_check(cudaMemcpy(dm->int8_weights[i], host, len, cudaMemcpyHostToDevice),
						  err, "copying int8 weights to the device");
		free(host);
		if (st != PI_OK)
			return st;
	}
	return PI_OK;
}

/* Uploads a finalized model's weights; NULL with err set on failure. */
PiCudaModel *
pi_cuda_model_upload(PiCudaContext *ctx, const PiModel *model, PiError *err)
{
	return pi_cuda_model_upload_over(ctx, model, NULL, err);
}

/*
 * The same, reading the weights model shares with base's model from base's
 * device copies (base NULL: none).
 */
PiCudaModel *
pi_cuda_model_upload_over(PiCudaContext *ctx, const PiModel *model, const PiCudaModel *base,
						  PiError *err)
{
	PiCudaModel *dm;
	bool	   *used;
	bool	   *shared = NULL;
	bool	   *int8_only = NULL;
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
	int8_only = pi_gpu_int8_only_weights(model);
	dm = calloc(1, sizeof(PiCudaModel));
	if (used == NULL || int8_only == NULL || dm == NULL ||
		(dm->weights = calloc(model->nvalues > 0 ? model->nvalues : 1, sizeof(float *))) == NULL)
	{
		free(used);
		free(int8_only);
		free(dm);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	/* a weight only int8 nodes read goes up as their codes only */
	for (int i = 0; i < model->nvalues; i++)
		used[i] = used[i] && !int8_only[i];
	free(int8_only);
	dm->ctx = ctx;
	dm->model = model;
	dm->half_type = model->precision == PI_PRECISION_FP16 ? CUDA_R_16F : CUDA_R_16BF;
	if ((dm->half_weights = half_weights(model)) == NULL)
	{
		free(used);
		pi_cuda_model_free(dm);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	dm->half_act_elems = half_act_elems(model, dm->half_weights);
	if ((shared = share_device_weights(dm, base, used)) == NULL)
	{
		free(used);
		pi_cuda_model_free(dm);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (int i = 0; i < model->nvalues; i++)
		if (used[i] && !shared[i])
			bytes += aligned(model->values[i].numel *
							 (int64_t) (dm->half_weights[i] ? sizeof(uint16_t) : sizeof(float)));
	bytes += 2 * aligned(transform * (int64_t) sizeof(float));
	if (!plan_int8_nodes(dm, base, &bytes))
	{
		free(used);
		free(shared);
		pi_cuda_model_free(dm);
		pi_fail(err, PI_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (pi_gpu_check(cudaMalloc(&dm->block, bytes > 0 ? bytes : 1), err,
					  "cudaMalloc of the model's weights") != PI_OK)
		goto fail;
	dm->bytes = bytes;
	for (int i = 0; i < model->nvalues; i++)
		if (used[i] && !shared[i] && (dm->half_weights[i] ?
						upload_half(dm, model->values[i].data, model->values[i].numel, &at,
									&dm->weights[i], err) :
						upload(dm, model->values[i].data, model->values[i].numel, &at,
							   &dm->weights[i], err)) != PI_OK)
			goto fail;
	if (transform > 0 &&
		(upload(dm, model->input_scale, transform, &at, &dm->input_scale, err) != PI_OK ||
		 upload(dm, model->input_shift, transform, &at, &dm->input_shift, err) != PI_OK))
		goto fail;
	if (upload_int8_nodes(dm, &at, err) != PI_OK)
		goto fail;
	free(used);
	free(shared);
	return dm;

fail:
	free(used);
	free(shared);
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
	free(dm->half_weights);
	free(dm->int8_shapes);
	free(dm->int8_weights);
	free(dm);
}
