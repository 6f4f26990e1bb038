/*
 * onnx_const.c
 *	  Constant tensors of the ONNX importer: allocation with size limits,
 *	  conversion from initializers, element access, and the float32 form a
 *	  constant takes when it becomes a weight of the model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_import.h"

/* Bytes the current import may still give to constants (see ONNX_CONST_BASE_BYTES). */
static int64_t budget_left = INT64_MAX;
static int64_t budget_total = INT64_MAX;

/* Starts an import's budget of constant bytes for a file (with its external data) of this size. */
void
onnx_const_budget_start(int64_t file_bytes)
{
	budget_total = ONNX_CONST_BASE_BYTES;
	if (file_bytes > (INT64_MAX - budget_total) / ONNX_CONST_PER_FILE_BYTE)
		budget_total = INT64_MAX;
	else
		budget_total += ONNX_CONST_PER_FILE_BYTE * file_bytes;
	budget_left = budget_total;
}

/*
 * Allocates a constant of this shape, with room for its elements when
 * alloc_data; what names it in errors.  Only constants the importer
 * computes (alloc_data) are held to ONNX_FOLD_MAX_ELEMS: an initializer's
 * size is bounded by the file.
 */
static PiStatus
const_alloc(int rank, const int64_t *dims, bool is_int, int data_type, const char *what,
			bool alloc_data, OnnxConst **out, PiError *err)
{
	OnnxConst  *c;
	int64_t		numel = 1;
	int64_t		bytes;

	*out = NULL;
	if (rank < 0 || rank > PI_ONNX_MAX_DIMS)
		return pi_fail(err, PI_ERR_LIMIT, "constant \"%s\" would have rank %d, the limit is %d",
					   what, rank, PI_ONNX_MAX_DIMS);
	for (int i = 0; i < rank; i++)
	{
		if (dims[i] < 0)
			return pi_fail(err, PI_ERR_SHAPE, "constant \"%s\" would have dimension %d of size %lld",
						   what, i, (long long) dims[i]);
		if (!pi_mul_size(numel, dims[i], &numel) || (alloc_data && numel > ONNX_FOLD_MAX_ELEMS))
			return pi_fail(err, PI_ERR_LIMIT, "constant \"%s\" would have more than %lld elements",
						   what, (long long) ONNX_FOLD_MAX_ELEMS);
	}
	bytes = (int64_t) sizeof(OnnxConst) + numel * (is_int ? sizeof(int64_t) : sizeof(float));
	if (bytes > budget_left)
		return pi_fail(err, PI_ERR_LIMIT,
					   "constant \"%s\" would take the model's constants past %lld MB, the limit for this file "
					   "(%lld MB, plus %d bytes per byte of the file and its external data)",
					   what, (long long) (budget_total >> 20), (long long) (ONNX_CONST_BASE_BYTES >> 20),
					   ONNX_CONST_PER_FILE_BYTE);
	budget_left -= bytes;
	if ((c = calloc(1, sizeof(OnnxConst))) == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	c->rank = rank;
	if (rank > 0)
		memcpy(c->dims, dims, sizeof(int64_t) * rank);
	c->numel = numel;
	c->is_int = is_int;
	c->data_type = data_type;
	if (alloc_data)
	{
		if (is_int)
			c->ints = calloc(numel > 0 ? numel : 1, sizeof(int64_t));
		else
			c->floats = calloc(numel > 0 ? numel : 1, sizeof(float));
		if (c->ints == NULL && c->floats == NULL)
		{
			free(c);
			return pi_fail(err, PI_ERR_NOMEM, "out of memory");
		}
	}
	*out = c;
	return PI_OK;
}

/* Allocates a constant of this shape; what names it in errors. */
PiStatus
onnx_const_new(int rank, const int64_t *dims, bool is_int, int data_type,
			   const char *what, OnnxConst **out, PiError *err)
{
	return const_alloc(rank, dims, is_int, data_type, what, true, out, err);
}

/* Frees a constant; NULL is allowed. */
void
onnx_const_free(OnnxConst *c)
{
	if (c == NULL)
		return;
	free(c->ints);
	if (!c->borrowed)
		free(c->floats);
	free(c);
}

/*
 * Converts a decoded TensorProto to a constant.  FLOAT data that lies
 * aligned in the file or the external data is used where it is (borrowed),
 * not copied.
 */
PiStatus
onnx_const_from_tensor(const OnnxTensor *t, const uint8_t *external,
					   size_t external_len, OnnxConst **out, PiError *err)
{
	bool		is_int = onnx_dtype_is_integer(t->data_type);
	const float *view = NULL;
	OnnxConst  *c;
	PiStatus	st;

	*out = NULL;
	if (!is_int && (st = onnx_tensor_float_view(t, external, external_len, &view, err)) != PI_OK)
		return st;
	if ((st = const_alloc(t->rank, t->dims, is_int, t->data_type, t->name, false, &c, err)) != PI_OK)
		return st;
	if (view != NULL)
	{
		c->floats = (float *) view;
		c->borrowed = true;
	}
	else if (is_int)
		st = onnx_tensor_ints(t, external, external_len, &c->ints, err);
	else
		st = onnx_tensor_floats(t, external, external_len, &c->floats, err);
	if (st != PI_OK)
	{
		onnx_const_free(c);
		return st;
	}
	*out = c;
	return PI_OK;
}

/*
 * The float32 constant that INT8 codes and their FLOAT column maxima stand
 * for in a stored int8 file (pi_onnx.h): codes -127 to 127, maxima finite
 * and >= 0, shapes as pi_int8_maxima_form takes them.
 */
PiStatus
onnx_const_from_int8(const OnnxTensor *codes, const OnnxTensor *maxima, const uint8_t *external,
					 size_t external_len, OnnxConst **out, PiError *err)
{
	int64_t		kdim = 0,
				mdim = 0;
	bool		trans = false;
	int64_t    *q = NULL;
	float	   *amax = NULL;
	int8_t	   *q8 = NULL;
	OnnxConst  *c = NULL;
	PiStatus	st;

	*out = NULL;
	if (codes->data_type != ONNX_INT8 || maxima->data_type != ONNX_FLOAT ||
		!pi_weight_form_matrix(pi_int8_maxima_form(codes->rank, codes->dims, maxima->rank, maxima->dims),
							   codes->rank, codes->dims, codes->numel, &kdim, &mdim, &trans))
		return pi_fail(err, PI_ERR_CORRUPT,
					   "stored int8 tensor \"%s\" needs INT8 codes of rank 2 or more and FLOAT column maxima of shape [1, columns] or [channels, 1, ...] of its rank",
					   codes->name);
	if ((st = onnx_tensor_ints(codes, external, external_len, &q, err)) != PI_OK ||
		(st = onnx_tensor_floats(maxima, external, external_len, &amax, err)) != PI_OK)
		goto done;
	for (int64_t j = 0; j < mdim && st == PI_OK; j++)
		if (!isfinite(amax[j]) || amax[j] < 0.0f)
			st = pi_fail(err, PI_ERR_CORRUPT,
						 "stored int8 tensor \"%s\" has column maximum %g at %lld, expected a finite value >= 0",
						 codes->name, (double) amax[j], (long long) j);
	if (st == PI_OK && (q8 = malloc(codes->numel + 1)) == NULL)
		st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < codes->numel && st == PI_OK; i++)
	{
		if (q[i] < -127 || q[i] > 127)
			st = pi_fail(err, PI_ERR_CORRUPT,
						 "stored int8 tensor \"%s\" has code %lld at %lld, expected -127 to 127",
						 codes->name, (long long) q[i], (long long) i);
		else
			q8[i] = (int8_t) q[i];
	}
	/* bounded by the file, as an initializer is: not held to ONNX_FOLD_MAX_ELEMS */
	if (st == PI_OK &&
		(st = const_alloc(codes->rank, codes->dims, false, ONNX_FLOAT, codes->name, false, &c, err)) == PI_OK)
	{
		if ((c->floats = malloc(sizeof(float) * (codes->numel + 1))) == NULL)
		{
			onnx_const_free(c);
			st = pi_fail(err, PI_ERR_NOMEM, "out of memory");
		}
		else
		{
			pi_int8_dequantize_matrix(q8, amax, kdim, mdim, trans, c->floats);
			*out = c;
		}
	}

done:
	free(q);
	free(amax);
	free(q8);
	return st;
}

/* Element i as a double. */
double
onnx_const_get(const OnnxConst *c, int64_t i)
{
	return c->is_int ? (double) c->ints[i] : (double) c->floats[i];
}

/* Whether an integer constant holds the symbolic batch size. */
bool
onnx_const_has_batch(const OnnxConst *c)
{
	if (!c->is_int)
		return false;
	for (int64_t i = 0; i < c->numel; i++)
		if (c->ints[i] == ONNX_BATCH_DIM)
			return true;
	return false;
}

/* The float32 values of a constant that becomes a weight (malloc'd). */
PiStatus
onnx_const_to_floats(const OnnxConst *c, const char *what, float **out, PiError *err)
{
	float	   *v = malloc(sizeof(float) * (c->numel > 0 ? c->numel : 1));

	*out = NULL;
	if (v == NULL)
		return pi_fail(err, PI_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < c->numel; i++)
	{
		if (c->is_int && (c->ints[i] > (1 << 24) || c->ints[i] < -(1 << 24)))
		{
			free(v);
			if (c->ints[i] == ONNX_BATCH_DIM)
				return pi_fail(err, PI_ERR_UNSUPPORTED, "constant \"%s\" holds the batch size, which is only known at run time",
							   what);
			return pi_fail(err, PI_ERR_DTYPE, "constant \"%s\" element %lld is %lld, beyond the float32-exact range of 2^24",
						   what, (long long) i, (long long) c->ints[i]);
		}
		v[i] = c->is_int ? (float) c->ints[i] : c->floats[i];
	}
	*out = v;
	return PI_OK;
}
