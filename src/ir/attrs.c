/*
 * attrs.c
 *	  Node attributes by name: their types, counts and ranges, and the
 *	  setters that the format loaders (graph JSON, ONNX) share.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "pi_ir.h"

/* Where and how one attribute is stored in PiAttrs. */
typedef struct PiAttrSpec
{
	const char *name;
	PiAttrType	type;
	int			min_count;		/* list attributes: counts allowed */
	int			max_count;
	int64_t		lo;				/* integers: the range allowed */
	int64_t		hi;
	int			offset;			/* of the value (or the first element) */
	int			len_offset;		/* of the list's count; -1 for scalars */
	bool		wide;			/* int64_t elements rather than int */
} PiAttrSpec;

#define AT(field) ((int) offsetof(PiAttrs, field))
#define FLAG(nm, field) {nm, PI_ATTR_INT, 1, 1, 0, 1, AT(field), -1, false}
#define LIST(nm, field, minc, maxc, lo, hi, wide) \
	{nm, PI_ATTR_INTS, minc, maxc, lo, hi, AT(field), AT(field##_len), wide}
#define REAL(nm, field) {nm, PI_ATTR_FLOAT, 1, 1, 0, 0, AT(field), -1, false}
#define WINDOW_MAX 1000000

static const PiAttrSpec attr_specs[] = {
	{"axis", PI_ATTR_INT, 1, 1, -PI_MAX_RANK, PI_MAX_RANK - 1, AT(axis), -1, false},
	{"group", PI_ATTR_INT, 1, 1, 1, WINDOW_MAX, AT(group), -1, false},
	{"to", PI_ATTR_INT, 1, 1, 1, 16, AT(cast_to), -1, false},
	{"k", PI_ATTR_INT, 1, 1, 1, INT32_MAX, AT(k), -1, true},
	FLAG("keepdims", keepdims),
	FLAG("transA", trans_a),
	FLAG("transB", trans_b),
	FLAG("ceil_mode", ceil_mode),
	FLAG("count_include_pad", count_include_pad),
	FLAG("largest", largest),
	FLAG("sorted", sorted),
	FLAG("output_index", output_index),
	FLAG("label", label),
	{"binary", PI_ATTR_INT, 1, 1, PI_BINARY_NONE, PI_BINARY_SECOND, AT(binary), -1, false},
	LIST("shape", shape, 1, PI_MAX_RANK, -1, (int64_t) 1000000000000000, true),
	LIST("perm", perm, 1, PI_MAX_RANK, 0, PI_MAX_RANK - 1, false),
	LIST("kernel_shape", kernel, 1, 2, 1, WINDOW_MAX, false),
	LIST("strides", strides, 1, 2, 1, WINDOW_MAX, false),
	LIST("dilations", dilations, 1, 2, 1, WINDOW_MAX, false),
	LIST("pads", pads, 2, 4, 0, WINDOW_MAX, false),
	LIST("output_padding", output_padding, 1, 2, 0, WINDOW_MAX, false),
	LIST("axes", axes, 0, PI_MAX_RANK, -PI_MAX_RANK, PI_MAX_RANK - 1, false),
	LIST("starts", starts, 1, PI_MAX_RANK, INT64_MIN, INT64_MAX, true),
	LIST("ends", ends, 1, PI_MAX_RANK, INT64_MIN, INT64_MAX, true),
	LIST("steps", steps, 1, PI_MAX_RANK, INT64_MIN, INT64_MAX, true),
	REAL("alpha", alpha),
	REAL("beta", beta),
	REAL("gamma", gamma),
	REAL("epsilon", epsilon),
	REAL("min", clip_min),
	REAL("max", clip_max),
	{"ratio", PI_ATTR_FLOAT, 1, 1, 0, 0, -1, -1, false},	/* read, not stored */
	{"approximate", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
	{"auto_pad", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
	{"mode", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
	REAL("value", pad_value),
	REAL("threshold", threshold),
	REAL("default", default_value),
	REAL("scale", quant_scale),
	{"zero_point", PI_ATTR_INT, 1, 1, -128, 255, AT(quant_zero_point), -1, false},
	FLAG("signed", quant_signed),
	FLAG("dynamic_int8", dynamic_int8),
	{"aggregate_function", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
	{"post_transform", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
	{"norm", PI_ATTR_STRING, 1, 1, 0, 0, -1, -1, false},
};

/* The values of the tabular ops' string attributes, in their enums' order. */
static const char *const aggregates[] = {"SUM", "AVERAGE", "MIN", "MAX", NULL};
static const char *const post_transforms[] = {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT", NULL};
static const char *const norms[] = {"MAX", "L1", "L2", NULL};

/* Sets *field to the position of value in names; fails naming the choices. */
static PiStatus
set_choice(PiOp op, const char *node, const char *name, const char *value,
		   const char *const *names, int *field, PiError *err)
{
	char		choices[128] = "";

	for (int i = 0; names[i]; i++)
		if (strcmp(value, names[i]) == 0)
		{
			*field = i;
			return PI_OK;
		}
	for (int i = 0; names[i]; i++)
	{
		strcat(choices, i == 0 ? "\"" : names[i + 1] ? ", \"" : " or \"");
		strcat(choices, names[i]);
		strcat(choices, "\"");
	}
	return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must be %s, found \"%.64s\"",
				   node, pi_op_name(op), name, choices, value);
}

/* Pad's "pads": every axis, negative amounts crop (the window ops' "pads" are 2-D). */
static const PiAttrSpec pad_amounts_spec =
	LIST("pads", pad_amounts, 2, 2 * PI_MAX_RANK, -WINDOW_MAX, WINDOW_MAX, false);

/* The ONNX data types Cast converts to. */
static const int cast_types[] = {1, 2, 3, 5, 6, 7, 9, 10, 11};

/* The spec of an attribute by its name, or NULL. */
static const PiAttrSpec *
find_spec(const char *name)
{
	for (size_t i = 0; i < sizeof(attr_specs) / sizeof(attr_specs[0]); i++)
		if (strcmp(attr_specs[i].name, name) == 0)
			return &attr_specs[i];
	return NULL;
}

/* The value type of the attribute of this name. */
PiAttrType
pi_attr_type(const char *name)
{
	const PiAttrSpec *spec = find_spec(name);

	return spec ? spec->type : PI_ATTR_UNKNOWN;
}

/* The spec of an attribute op accepts, of the given type; fails otherwise. */
static const PiAttrSpec *
accepted_spec(PiOp op, const char *node, const char *name, PiAttrType type,
			  PiError *err)
{
	const PiAttrSpec *spec = (op == PI_OP_PAD && strcmp(name, "pads") == 0)
		? &pad_amounts_spec : find_spec(name);
	static const char *const type_names[] = {"unknown", "an integer", "a list of integers",
	"a float", "a string"};

	if (spec == NULL || !pi_op_accepts_attr(op, name))
	{
		pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) has unknown attribute \"%s\"",
				node, pi_op_name(op), name);
		return NULL;
	}
	if (spec->type != type && !(spec->type == PI_ATTR_INTS && type == PI_ATTR_INT) &&
		!(spec->type == PI_ATTR_INT && type == PI_ATTR_INTS))
	{
		pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must be %s, found %s",
				node, pi_op_name(op), name, type_names[spec->type], type_names[type]);
		return NULL;
	}
	return spec;
}

/* Sets an integer or integer-list attribute of op by its name; checks count and range. */
PiStatus
pi_attr_set_ints(PiOp op, PiAttrs *attrs, const char *node, const char *name,
				 const int64_t *values, int count, PiError *err)
{
	const PiAttrSpec *spec = accepted_spec(op, node, name, PI_ATTR_INTS, err);
	char	   *base = (char *) attrs;

	if (spec == NULL)
		return PI_ERR_INVALID;
	if (count < spec->min_count || count > spec->max_count ||
		(spec != &pad_amounts_spec && strcmp(name, "pads") == 0 && count == 3))
	{
		if (spec->type == PI_ATTR_INT)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must be one integer, found %d values",
						   node, pi_op_name(op), name, count);
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must have %s%d to %d values, found %d",
					   node, pi_op_name(op), name,
					   spec != &pad_amounts_spec && strcmp(name, "pads") == 0 ? "2 or 4 (not 3), " : "",
					   spec->min_count, spec->max_count, count);
	}
	for (int i = 0; i < count; i++)
	{
		bool		ok = values[i] >= spec->lo && values[i] <= spec->hi;

		if (strcmp(name, "steps") == 0)
			ok = values[i] != 0;
		if (strcmp(name, "to") == 0)
		{
			ok = false;
			for (size_t t = 0; t < sizeof(cast_types) / sizeof(cast_types[0]); t++)
				ok |= (values[i] == cast_types[t]);
			if (!ok)
				return pi_fail(err, PI_ERR_UNSUPPORTED, "node \"%s\" (%s) attribute \"to\" is data type %lld, expected one of 1 (FLOAT), 2 (UINT8), 3 (INT8), 5 (INT16), 6 (INT32), 7 (INT64), 9 (BOOL), 10 (FLOAT16), 11 (DOUBLE)",
							   node, pi_op_name(op), (long long) values[i]);
		}
		if (!ok)
		{
			/* window sizes past WINDOW_MAX exceed a limit rather than being malformed */
			if (values[i] > spec->hi && spec->hi == WINDOW_MAX && spec->type == PI_ATTR_INTS)
				return pi_fail(err, PI_ERR_LIMIT, "node \"%s\" (%s) attribute \"%s\" element %d is too large",
							   node, pi_op_name(op), name, i);
			if (strcmp(name, "steps") == 0)
				return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"steps\" element %d is 0",
							   node, pi_op_name(op), i);
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" element %d is %lld, expected %lld to %lld",
						   node, pi_op_name(op), name, i, (long long) values[i],
						   (long long) spec->lo, (long long) spec->hi);
		}
		if (spec->wide)
			((int64_t *) (base + spec->offset))[i] = values[i];
		else
			((int *) (base + spec->offset))[i] = (int) values[i];
	}
	if (spec->len_offset >= 0)
		*(int *) (base + spec->len_offset) = count;
	return PI_OK;
}

/* Sets a float attribute of op by its name. */
PiStatus
pi_attr_set_float(PiOp op, PiAttrs *attrs, const char *node, const char *name,
				  float value, PiError *err)
{
	const PiAttrSpec *spec = accepted_spec(op, node, name, PI_ATTR_FLOAT, err);

	if (spec == NULL)
		return PI_ERR_INVALID;
	if (!isfinite(value))
		return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"%s\" must be a finite float32 number",
					   node, pi_op_name(op), name);
	if (spec->offset >= 0)
		*(float *) ((char *) attrs + spec->offset) = value;
	return PI_OK;
}

/* Sets a string attribute of op by its name (Gelu approximate, auto_pad, Pad mode). */
PiStatus
pi_attr_set_string(PiOp op, PiAttrs *attrs, const char *node, const char *name,
				   const char *value, PiError *err)
{
	static const char *const auto_pads[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
	const PiAttrSpec *spec = accepted_spec(op, node, name, PI_ATTR_STRING, err);

	if (spec == NULL)
		return PI_ERR_INVALID;
	if (strcmp(name, "approximate") == 0)
	{
		if (strcmp(value, "none") != 0 && strcmp(value, "tanh") != 0)
			return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"approximate\" must be \"none\" or \"tanh\", found \"%.64s\"",
						   node, pi_op_name(op), value);
		attrs->gelu_tanh = (strcmp(value, "tanh") == 0);
		return PI_OK;
	}
	if (strcmp(name, "aggregate_function") == 0)
		return set_choice(op, node, name, value, aggregates, &attrs->aggregate, err);
	if (strcmp(name, "post_transform") == 0)
		return set_choice(op, node, name, value, post_transforms, &attrs->post_transform, err);
	if (strcmp(name, "norm") == 0)
		return set_choice(op, node, name, value, norms, &attrs->norm, err);
	if (strcmp(name, "mode") == 0)
	{
		static const char *const modes[] = {"constant", "reflect", "edge"};

		for (int i = 0; i < 3; i++)
			if (strcmp(value, modes[i]) == 0)
			{
				attrs->pad_mode = i;
				return PI_OK;
			}
		return pi_fail(err, strcmp(value, "wrap") == 0 ? PI_ERR_UNSUPPORTED : PI_ERR_INVALID,
					   "node \"%s\" (%s) attribute \"mode\" must be \"constant\", \"reflect\" or \"edge\", found \"%.64s\"",
					   node, pi_op_name(op), value);
	}
	for (int i = 0; i < 4; i++)
		if (strcmp(value, auto_pads[i]) == 0)
		{
			attrs->auto_pad = i;
			return PI_OK;
		}
	return pi_fail(err, PI_ERR_INVALID, "node \"%s\" (%s) attribute \"auto_pad\" must be \"NOTSET\", \"SAME_UPPER\", \"SAME_LOWER\" or \"VALID\", found \"%.64s\"",
				   node, pi_op_name(op), value);
}
