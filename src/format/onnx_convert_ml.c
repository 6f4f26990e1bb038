/*
 * onnx_convert_ml.c
 *	  Lowering of the ai.onnx.ml operators around models: preprocessing
 *	  (Scaler, Normalizer, Binarizer, Imputer, FeatureVectorizer,
 *	  OneHotEncoder, LabelEncoder, CategoryMapper, ArrayFeatureExtractor),
 *	  linear models (LinearClassifier, LinearRegressor) and ZipMap, and the
 *	  outputs every classifier shares (onnx_cv_classifier_outputs).  Tree
 *	  ensembles are in onnx_convert_tree.c.  Strings are class indexes or
 *	  category indexes with their lists (onnx_strings.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_lower.h"

/* A float-list attribute: its length (0 when absent) and values. */
static int
attr_floats(const OnnxCv *c, const char *name, const float **values)
{
	const OnnxAttr *a = onnx_attr(c->n, name);

	*values = a ? a->floats : NULL;
	return a ? a->nfloats : 0;
}

/* A weight named after the node's output with suffix, holding count floats of values. */
PiStatus
onnx_cv_weight(OnnxCv *c, const char *suffix, const float *values, int rank,
			   const int64_t *dims, int *value)
{
	char		name[PI_MAX_NAME];
	int64_t		count = 1;
	float	   *data;

	for (int i = 0; i < rank; i++)
		count *= dims[i];
	if ((data = malloc(sizeof(float) * (count > 0 ? count : 1))) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	memcpy(data, values, sizeof(float) * count);
	onnx_unique_name(c->im, c->n->outputs[0], suffix, name);
	return onnx_add_weight(c->im, name, rank, dims, data, value, c->err);
}

/* Input 0 as an activation of rank 2 [N, F] (a Reshape of other ranks); F in *features. */
PiStatus
onnx_cv_rows(OnnxCv *c, int *value, int64_t *features)
{
	const PiValue *v;
	int64_t		dims[2] = {-1, 0};

	TRY(onnx_cv_value(c, 0, value));
	v = onnx_cv_shape(c, *value);
	*features = pi_value_row_elems(v);
	if (v->rank == 2)
		return PI_OK;
	dims[1] = *features;
	return onnx_cv_reshape(c, "rows", *value, 2, dims, value);
}

/* Emits a node over inputs that defines output o of the ONNX node, or an intermediate step. */
static PiStatus
emit(OnnxCv *c, int o, const char *suffix, PiOp op, const int *inputs, int ninputs,
	 const PiAttrs *a, int *value)
{
	if (suffix == NULL)
	{
		TRY(onnx_cv_finish_output(c, o, op, inputs, ninputs, a));
		*value = onnx_entry(c->im, c->n->outputs[o])->value;
		return PI_OK;
	}
	return onnx_cv_step(c, suffix, op, inputs, ninputs, a, value);
}

/* Columns [from, to) of a [N, C] activation: output o (suffix NULL) or a step. */
static PiStatus
columns(OnnxCv *c, int o, const char *suffix, int value, int64_t from, int64_t to, int *out)
{
	PiAttrs		a;
	int64_t		axis = 1;

	pi_attrs_default(PI_OP_SLICE, &a);
	TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "starts", &from, 1, c->err));
	TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "ends", &to, 1, c->err));
	TRY(pi_attr_set_ints(PI_OP_SLICE, &a, onnx_cv_label(c), "axes", &axis, 1, c->err));
	return emit(c, o, suffix, PI_OP_SLICE, &value, 1, &a, out);
}

/*
 * The two outputs of a classifier from its raw scores [N, K]: a
 * PostTransform (post: its transform, binary form and label threshold)
 * that appends the class index, then output 1 the scores and output 0
 * the class [N], whose labels are the list.
 */
PiStatus
onnx_cv_classifier_outputs(OnnxCv *c, int raw, PiAttrs *post, PiStrings *labels, bool ints)
{
	int			both,
				scores,
				label;
	int64_t		nscores;
	int64_t		shape = -1;
	PiAttrs		a;

	TRY(pi_attr_set_ints(PI_OP_POST_TRANSFORM, post, onnx_cv_label(c), "label", &(int64_t) {1}, 1, c->err));
	TRY(onnx_cv_step(c, "scores_and_class", PI_OP_POST_TRANSFORM, &raw, 1, post, &both));
	nscores = onnx_cv_shape(c, both)->dims[1] - 1;
	if (c->n->noutputs > 1 && c->n->outputs[1][0] != '\0')
		TRY(columns(c, 1, NULL, both, 0, nscores, &scores));
	TRY(columns(c, 0, "class", both, nscores, nscores + 1, &label));
	pi_attrs_default(PI_OP_RESHAPE, &a);
	TRY(pi_attr_set_ints(PI_OP_RESHAPE, &a, onnx_cv_label(c), "shape", &shape, 1, c->err));
	TRY(onnx_emit(c->im, c->n->outputs[0], PI_OP_RESHAPE, &label, 1, &a, &label, c->err));
	return onnx_strings_define(c, 0, label, labels, ints);
}

/* A PostTransform's attributes from an ONNX post_transform string. */
PiStatus
onnx_cv_post_transform(OnnxCv *c, const char *transform, PiAttrs *a)
{
	pi_attrs_default(PI_OP_POST_TRANSFORM, a);
	return pi_attr_set_string(PI_OP_POST_TRANSFORM, a, onnx_cv_label(c), "post_transform",
							  transform, c->err);
}

/* The class labels of a classifier: classlabels_strings or an ints attribute (ints_name). */
PiStatus
onnx_cv_class_labels(OnnxCv *c, const char *ints_name, PiStrings **labels, bool *ints)
{
	const OnnxAttr *s = onnx_attr(c->n, "classlabels_strings");
	const int64_t *values;
	int			count = onnx_attr_ints(c->n, ints_name, &values);

	*ints = (s == NULL);
	if (s != NULL && count > 0)
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has both classlabels_strings and %s",
					   onnx_cv_label(c), c->n->op_type, ints_name);
	if (s != NULL)
		return onnx_strings_labels(c->im, onnx_cv_label(c), s->strings, NULL, s->nstrings, labels, c->err);
	return onnx_strings_labels(c->im, onnx_cv_label(c), NULL, values, count > 0 ? count : 0,
							   labels, c->err);
}

/*
 * The scores X W^T + b of a linear model (coefficients [K, F], intercepts
 * [K]) as a Dense node: output 0 when suffix is NULL, else a step.
 */
static PiStatus
linear_scores(OnnxCv *c, const char *suffix, int *raw, int64_t *targets)
{
	const float *coef,
			   *intercepts;
	int			ncoef = attr_floats(c, "coefficients", &coef);
	int			nint = attr_floats(c, "intercepts", &intercepts);
	int64_t		features;
	int64_t		dims[2];
	int			inputs[3];
	float	   *zeros;
	PiAttrs		a;
	PiStatus	st;

	TRY(onnx_cv_rows(c, &inputs[0], &features));
	if (ncoef == 0 || ncoef % features != 0 || (nint > 0 && ncoef / features != nint))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (%s) has %d coefficients and %d intercepts for %lld features",
					   onnx_cv_label(c), c->n->op_type, ncoef, nint, (long long) features);
	*targets = ncoef / features;
	dims[0] = *targets;
	dims[1] = features;
	TRY(onnx_cv_weight(c, "coefficients", coef, 2, dims, &inputs[1]));
	if (nint > 0)
		st = onnx_cv_weight(c, "intercepts", intercepts, 1, dims, &inputs[2]);
	else
	{
		if ((zeros = calloc(*targets, sizeof(float))) == NULL)
			return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		st = onnx_cv_weight(c, "intercepts", zeros, 1, dims, &inputs[2]);
		free(zeros);
	}
	if (st != PI_OK)
		return st;
	pi_attrs_default(PI_OP_DENSE, &a);
	return emit(c, 0, suffix, PI_OP_DENSE, inputs, 3, &a, raw);
}

/*
 * LinearClassifier: scores X W^T + b, then its post_transform; one score
 * with two labels gives [1 - s, s] and the class s > 0, as ONNX Runtime.
 */
PiStatus
onnx_cv_linear_classifier(OnnxCv *c)
{
	PiStrings  *labels;
	bool		ints;
	int			raw;
	int64_t		k;
	PiAttrs		post;

	TRY(linear_scores(c, "raw_scores", &raw, &k));
	TRY(onnx_cv_class_labels(c, "classlabels_ints", &labels, &ints));
	TRY(onnx_cv_post_transform(c, onnx_attr_string(c->n, "post_transform", "NONE"), &post));
	if (k == 1 && labels->count == 2)
		post.binary = PI_BINARY_COMPLEMENT;
	else if (k != labels->count)
		return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (LinearClassifier) has %lld scores for %d class labels",
					   onnx_cv_label(c), (long long) k, labels->count);
	return onnx_cv_classifier_outputs(c, raw, &post, labels, ints);
}

/* LinearRegressor: X W^T + b, then its post_transform. */
PiStatus
onnx_cv_linear_regressor(OnnxCv *c)
{
	int			raw;
	int64_t		k;
	PiAttrs		post;
	const char *transform = onnx_attr_string(c->n, "post_transform", "NONE");

	TRY(linear_scores(c, strcmp(transform, "NONE") == 0 ? NULL : "raw_scores", &raw, &k));
	if (k != onnx_attr_int(c->n, "targets", 1))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (LinearRegressor) has %lld targets' coefficients, its attribute targets says %lld",
					   onnx_cv_label(c), (long long) k, (long long) onnx_attr_int(c->n, "targets", 1));
	if (strcmp(transform, "NONE") == 0)
		return PI_OK;
	TRY(onnx_cv_post_transform(c, transform, &post));
	return onnx_cv_finish_output(c, 0, PI_OP_POST_TRANSFORM, &raw, 1, &post);
}

/* Scaler: (x - offset) * scale, each one value or one per feature. */
PiStatus
onnx_cv_scaler(OnnxCv *c)
{
	const float *offset,
			   *scale;
	int			noffset = attr_floats(c, "offset", &offset);
	int			nscale = attr_floats(c, "scale", &scale);
	int64_t		features;
	int			inputs[2],
				shifted;
	int64_t		dims[1];
	PiAttrs		a;

	TRY(onnx_cv_rows(c, &inputs[0], &features));
	if ((noffset != 1 && noffset != features) || (nscale != 1 && nscale != features))
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Scaler) has %d offsets and %d scales for %lld features, expected 1 or %lld each",
					   onnx_cv_label(c), noffset, nscale, (long long) features, (long long) features);
	pi_attrs_default(PI_OP_SUB, &a);
	dims[0] = noffset;
	TRY(onnx_cv_weight(c, "offset", offset, 1, dims, &inputs[1]));
	TRY(onnx_cv_step(c, "shifted", PI_OP_SUB, inputs, 2, &a, &shifted));
	inputs[0] = shifted;
	dims[0] = nscale;
	TRY(onnx_cv_weight(c, "scale", scale, 1, dims, &inputs[1]));
	return onnx_cv_finish_output(c, 0, PI_OP_MUL, inputs, 2, &a);
}

/* Normalizer: each row by its MAX, L1 or L2 norm. */
PiStatus
onnx_cv_normalizer(OnnxCv *c)
{
	int			x;
	int64_t		features;
	PiAttrs		a;

	TRY(onnx_cv_rows(c, &x, &features));
	pi_attrs_default(PI_OP_NORMALIZE, &a);
	TRY(pi_attr_set_string(PI_OP_NORMALIZE, &a, onnx_cv_label(c), "norm",
						   onnx_attr_string(c->n, "norm", "MAX"), c->err));
	return onnx_cv_finish_output(c, 0, PI_OP_NORMALIZE, &x, 1, &a);
}

/* Binarizer: 1 where x > threshold, else 0. */
PiStatus
onnx_cv_binarizer(OnnxCv *c)
{
	float		threshold = onnx_attr_float(c->n, "threshold", 0.0f);
	int64_t		one = 1;
	int			inputs[2];
	PiAttrs		a;

	TRY(onnx_cv_value(c, 0, &inputs[0]));
	TRY(onnx_cv_weight(c, "threshold", &threshold, 1, &one, &inputs[1]));
	pi_attrs_default(PI_OP_GREATER, &a);
	return onnx_cv_finish_output(c, 0, PI_OP_GREATER, inputs, 2, &a);
}

/*
 * Imputer: the replaced value (NaN by default in scikit-learn's export,
 * 0 in ONNX's) becomes the imputed one (one value, or one per feature):
 * Where(Equal(x, x), x, imputed) for NaN, Where(Equal(x, r), imputed, x)
 * else.  A model that imputes NaN takes NULL features as missing.
 */
PiStatus
onnx_cv_imputer(OnnxCv *c)
{
	const float *imputed;
	int			nimputed = attr_floats(c, "imputed_value_floats", &imputed);
	const int64_t *imputed_ints;
	int			nints = onnx_attr_ints(c->n, "imputed_value_int64s", &imputed_ints);
	float		replaced = onnx_attr(c->n, "replaced_value_int64") ?
		(float) onnx_attr_int(c->n, "replaced_value_int64", 0) :
		onnx_attr_float(c->n, "replaced_value_float", 0.0f);
	float		values[1];
	float	   *from_ints = NULL;
	int64_t		features;
	int64_t		dims[1];
	int			x,
				fill,
				eq,
				inputs[3];
	PiAttrs		a;
	PiStatus	st;

	TRY(onnx_cv_rows(c, &x, &features));
	if (nimputed == 0 && nints > 0)
	{
		if ((from_ints = malloc(sizeof(float) * nints)) == NULL)
			return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
		for (int i = 0; i < nints; i++)
			from_ints[i] = (float) imputed_ints[i];
		imputed = from_ints;
		nimputed = nints;
	}
	if (nimputed != 1 && nimputed != features)
	{
		free(from_ints);
		return pi_fail(c->err, PI_ERR_INVALID, "node \"%s\" (Imputer) has %d imputed values for %lld features, expected 1 or %lld",
					   onnx_cv_label(c), nimputed, (long long) features, (long long) features);
	}
	dims[0] = nimputed;
	st = onnx_cv_weight(c, "imputed", imputed, 1, dims, &fill);
	free(from_ints);
	if (st != PI_OK)
		return st;
	pi_attrs_default(PI_OP_EQUAL, &a);
	inputs[0] = x;
	if (isnan(replaced))
	{
		inputs[1] = x;
		c->im->model->missing_as_nan = true;
	}
	else
	{
		values[0] = replaced;
		dims[0] = 1;
		TRY(onnx_cv_weight(c, "replaced", values, 1, dims, &inputs[1]));
	}
	TRY(onnx_cv_step(c, "present", PI_OP_EQUAL, inputs, 2, &a, &eq));
	inputs[0] = eq;
	inputs[1] = isnan(replaced) ? x : fill;
	inputs[2] = isnan(replaced) ? fill : x;
	pi_attrs_default(PI_OP_WHERE, &a);
	return onnx_cv_finish_output(c, 0, PI_OP_WHERE, inputs, 3, &a);
}

/* FeatureVectorizer: the inputs, each [N, inputdimensions[i]], side by side. */
PiStatus
onnx_cv_feature_vectorizer(OnnxCv *c)
{
	const int64_t *sizes;
	int			nsizes = onnx_attr_ints(c->n, "inputdimensions", &sizes);
	int			inputs[8];
	PiAttrs		a;

	if (c->n->ninputs > 8 || nsizes != c->n->ninputs)
		return pi_fail(c->err, nsizes != c->n->ninputs ? PI_ERR_INVALID : PI_ERR_LIMIT,
					   "node \"%s\" (FeatureVectorizer) has %d inputs and %d inputdimensions (at most 8 inputs)",
					   onnx_cv_label(c), c->n->ninputs, nsizes);
	for (int i = 0; i < c->n->ninputs; i++)
	{
		int64_t		dims[2] = {-1, sizes[i]};
		const PiValue *v;

		TRY(onnx_cv_value(c, i, &inputs[i]));
		v = onnx_cv_shape(c, inputs[i]);
		if (pi_value_row_elems(v) != sizes[i])
			return pi_fail(c->err, PI_ERR_UNSUPPORTED, "node \"%s\" (FeatureVectorizer) input %d has %lld values per row, its inputdimensions says %lld",
						   onnx_cv_label(c), i, (long long) pi_value_row_elems(v), (long long) sizes[i]);
		if (v->rank != 2)
			TRY(onnx_cv_reshape(c, "rows", inputs[i], 2, dims, &inputs[i]));
	}
	pi_attrs_default(PI_OP_CONCAT, &a);
	TRY(onnx_cv_set_int(c, PI_OP_CONCAT, &a, "axis", 1));
	return onnx_cv_finish_output(c, 0, PI_OP_CONCAT, inputs, c->n->ninputs, &a);
}

/* ZipMap: the probabilities themselves (an array of the classes' in order). */
PiStatus
onnx_cv_zipmap(OnnxCv *c)
{
	return onnx_cv_identity(c);
}

/*
 * OneHotEncoder: [..] to [.., C], 1 where the value is category c.  String
 * categories are looked up in the input's list; with zeros = 0 a category
 * not listed is an error (the SQL layer raises it, naming the column).
 */
PiStatus
onnx_cv_one_hot_encoder(OnnxCv *c)
{
	const OnnxAttr *strings = onnx_attr(c->n, "cats_strings");
	const int64_t *ints;
	int			nints = onnx_attr_ints(c->n, "cats_int64s", &ints);
	PiStrings  *list = c->in[0] ? c->in[0]->strings : NULL;
	int			count = strings ? strings->nstrings : nints;
	float	   *cats;
	int64_t		dims[1] = {count};
	int64_t		axis;
	int			inputs[2];
	PiAttrs		a;
	PiStatus	st = PI_OK;

	if (count <= 0 || (strings != NULL) != (list != NULL) || (list && c->in[0]->strings_ints))
		return pi_fail(c->err, count <= 0 ? PI_ERR_INVALID : PI_ERR_DTYPE,
					   "node \"%s\" (OneHotEncoder) needs cats_strings for string input, cats_int64s for numbers",
					   onnx_cv_label(c));
	if ((cats = malloc(sizeof(float) * count)) == NULL)
		return pi_fail(c->err, PI_ERR_NOMEM, "out of memory");
	for (int i = 0; i < count && st == PI_OK; i++)
	{
		int			index;

		if (strings)
			st = onnx_strings_index(list, strings->strings[i], &index, c->err);
		cats[i] = strings ? (float) index : (float) ints[i];
	}
	if (st == PI_OK)
		st = onnx_cv_weight(c, "categories", cats, 1, dims, &inputs[1]);
	free(cats);
	if (st != PI_OK)
		return st;
	if (list && onnx_attr_int(c->n, "zeros", 1) == 0)
		list->strict = true;
	TRY(onnx_cv_value(c, 0, &inputs[0]));
	axis = onnx_cv_shape(c, inputs[0])->rank;
	pi_attrs_default(PI_OP_UNSQUEEZE, &a);
	TRY(pi_attr_set_ints(PI_OP_UNSQUEEZE, &a, onnx_cv_label(c), "axes", &axis, 1, c->err));
	TRY(onnx_cv_step(c, "column", PI_OP_UNSQUEEZE, inputs, 1, &a, &inputs[0]));
	pi_attrs_default(PI_OP_EQUAL, &a);
	return onnx_cv_finish_output(c, 0, PI_OP_EQUAL, inputs, 2, &a);
}
